"""Cells of notebooks 05-08: sessions, detections, IAM changes, report."""

from __future__ import annotations

from . import (
    CHAINED_SESSION,
    DAVE,
    EXPIRED_USE_EVENT,
    LEAKED_KEY,
    PARAM_FREQ,
    PARAMS_COMMON,
    SETUP,
    next_links,
)

LEADS: dict[str, list[tuple[str, str]]] = {}

LEADS["05_sessions"] = [
    (
        "md",
        """# Sessions: who is behind a key or a role session

**Question:** which human, or which leaked long-term key, is behind an access key, a role
session or a single event; which sessions did a key spawn, across which accounts; which
sessions look stolen or were used after they expired?

**CloudTrail fields that carry the answer:** `userIdentity.accessKeyId` (the key each call is
signed with), `responseElements.credentials.accessKeyId` and `expiration` (the key an
AssumeRole / GetSessionToken / GetFederationToken call issued), `userIdentity.sessionContext`
(`sessionIssuer`, `attributes.creationDate`, `mfaAuthenticated`, `sourceIdentity`),
`requestParameters.roleArn` and `roleSessionName`, `sharedEventID` (the two copies of a
cross-account AssumeRole), `sourceIPAddress`.

The defaults point at the sample scenario: the leaked key `AKIALXRK7KTX2MSKAWTN`, the chained
session `ASIAN7KKGMPU4FGBFBGI` in the development account, and the call made with it after it
expired.""",
    ),
    (
        "params",
        PARAMS_COMMON
        + f'''
ACCESS_KEY_ID = "{LEAKED_KEY}"  # a long-term (AKIA...) or temporary (ASIA...) key to trace
SESSION_ID = "{CHAINED_SESSION}"  # a session to trace (its key, or console:/sso:/observed: id)
EVENT_ID = "{EXPIRED_USE_EVENT}"  # one event to walk back to its origin''',
    ),
    ("code", SETUP),
    (
        "md",
        """## Every session in the case

One row per STS session (issued in the case, or seen only through its use), counted by kind and
by how its origin was found. `unknown` origins are sessions whose issuing call is not in the
evidence.""",
    ),
    (
        "code",
        """from iamforensics.analysis import sessions as st
from iamforensics.plots import sessions as psess

all_sessions = case.sessions()
all_sessions.groupby(["kind", "origin_kind"]).size().rename("sessions").reset_index()""",
    ),
    (
        "md",
        """## The tree below the key

The key at the root, the sessions it issued below it, their child sessions below them. Each box
gives the kind, principal, events and accounts; dashed links were made by the creationDate
fallback, dotted ones are ambiguous; a red edge marks a flagged session (used after expiry, new
network, cross-account chain, IAM write without MFA).""",
    ),
    (
        "code",
        """tree = st.trace(case, access_key_id=ACCESS_KEY_ID)
ax = psess.session_tree(tree, title=f"Sessions below {ACCESS_KEY_ID}")
caption(ax, case.name, None)""",
    ),
    (
        "code",
        """tree[["depth", "node", "parent", "link", "kind", "principal", "account_id", "issued_at", "expiration",
      "events", "errors", "ips", "origin", "chain_depth", "flags"]]""",
    ),
    (
        "md",
        """## The sessions over time

A bar per session from issue to last use, a tick at its expiration, a dot per event and a cross
per error (events in the window only). A dot to the right of its expiration tick is a call made
with an expired session: AWS refused it, but someone still held the credentials.""",
    ),
    (
        "code",
        """tree_events = st.attribute(case, START, END, session_id=tree["node"].tolist())
ax = psess.session_timeline(tree, tree_events)
caption(ax, case.name, window)""",
    ),
    (
        "md",
        """Every event of the tree, with the session, attribution and origin of each (the key's own calls
have chain depth 0).""",
    ),
    ("code", "st.trace_events(case, access_key_id=ACCESS_KEY_ID)"),
    (
        "md",
        """## One session

The tree below `SESSION_ID` (a role session of the development account, chained from the
leaked key).""",
    ),
    ("code", "st.trace(case, session_id=SESSION_ID)"),
    (
        "md",
        """## One event back to its origin

Hop 0 is the event, then its session, the session that issued that one, and last the origin: the
long-term identity behind it. `link` says how each hop was made.""",
    ),
    ("code", "st.origin_of(case, EVENT_ID)"),
    (
        "md",
        """## Flags across the case

Sessions worth a look, with their evidence: `new-network` (temporary credentials used from a
network their issuer never used), `used-after-expiry`, `cross-account-chain` (where a chain
enters another account) and `iam-write-without-mfa`. Counts first, then every flag except the
routine cross-account hops of low severity.""",
    ),
    (
        "code",
        """flags = st.flags(case)
flags.groupby(["flag", "severity"]).size().rename("sessions").reset_index()""",
    ),
    ("code", 'flags[(flags["flag"] != "cross-account-chain") | (flags["severity"] != "low")]'),
    ("md", next_links("05_sessions")),
]

LEADS["06_detections"] = [
    (
        "md",
        """# Detections: findings and triage

**Question:** what do the built-in rules (and Sigma rules, when given) flag, how severe is it,
which ATT&CK tactics does it cover, and which identity is behind each finding?

**CloudTrail fields that carry the answer:** `eventName` and `eventSource` (what each rule
matches), `requestParameters` / `responseElements` / `additionalEventData` (the conditions:
policy ARNs, trust principals, snapshot permissions, `MFAUsed`...), `errorCode`,
`userIdentity`, `sourceIPAddress`; the session attribution adds `origin`, the identity behind
the actor.

`SIGMA_DIR` is a folder of Sigma rules (e.g. SigmaHQ's `rules/cloud/aws/cloudtrail`); it is
skipped when `None` or absent. The defaults point at the sample scenario's compromised user
`dave` as the origin to triage.""",
    ),
    (
        "params",
        PARAMS_COMMON
        + f'''
ORIGIN = "{DAVE}"  # the identity whose findings to triage (the origin behind the actors)
SIGMA_DIR = None  # a folder of Sigma rules; None or a missing folder: built-in rules only
MIN_SEVERITY = None  # "low", "medium", "high" or "critical"; None: all''',
    ),
    ("code", SETUP),
    (
        "code",
        """from pathlib import Path

from iamforensics.case import to_utc
from iamforensics.detections import findings, load_rules

sigma = SIGMA_DIR if SIGMA_DIR and Path(SIGMA_DIR).is_dir() else None
all_findings = findings(case, sigma=sigma, min_severity=MIN_SEVERITY)
print(f"{len(load_rules())} built-in rules; Sigma rules: {sigma or 'none'}; {len(all_findings):,} findings")""",
    ),
    (
        "md",
        """Findings in the time window (`START`/`END` apply to the finding's first event).""",
    ),
    (
        "code",
        """found = all_findings
if START is not None:
    found = found[found["time"] >= to_utc(START)]
if END is not None:
    found = found[found["time"] < to_utc(END)]
found.groupby(["source", "severity"]).size().rename("findings").reset_index()""",
    ),
    (
        "md",
        """## By tactic and severity

Findings per ATT&CK tactic, stacked by severity. Persistence, privilege escalation and defense
evasion findings in the same hour are the shape of a compromise; discovery alone is often
routine.""",
    ),
    (
        "code",
        """by_tactic = found.groupby(["tactic", "severity"]).size().unstack(fill_value=0)
if by_tactic.empty:
    print("no findings in the window")
else:
    ax = by_tactic.plot.barh(stacked=True, figsize=(9, 0.8 + 0.35 * len(by_tactic)), title="Findings per tactic")
    ax.set_xlabel("findings")
    caption(ax, case.name, window)""",
    ),
    (
        "md",
        """## Triage: high and critical first

The high and critical findings in time order, with the actor and the origin behind it (for a
role session, the user or key that started the chain).""",
    ),
    (
        "code",
        """columns = ["time", "rule", "source", "severity", "tactic", "technique", "actor", "origin", "count", "summary"]
found[found["severity"].isin(["high", "critical"])][columns]""",
    ),
    (
        "md",
        """## Everything behind one identity

Every finding whose origin is `ORIGIN`, whatever session or account it came from: the
compromise of one identity as one list.""",
    ),
    (
        "code",
        """behind = found[found["origin"] == ORIGIN]
behind.groupby(["rule", "severity"]).size().rename("findings").reset_index()""",
    ),
    (
        "md",
        """The same findings above `low`, in time order: the story of the compromise (low findings are
mostly routine calls matched by broad rules; they are counted above).""",
    ),
    ("code", 'behind[behind["severity"] != "low"][columns]'),
    (
        "md",
        """## Rules that fired most

Noisy rules are where tuning (or an allow-list) pays off; a rule that fired once may be the one
that matters.""",
    ),
    (
        "code",
        """found.groupby(["rule", "source", "severity"]).size().rename("findings").sort_values(ascending=False).head(25).reset_index()""",
    ),
    ("md", next_links("06_detections")),
]

LEADS["07_iam_changes"] = [
    (
        "md",
        """# IAM changes: accounts, privileges, admin and root (PCI DSS 10.2.5)

**Question:** which accounts were created, which privileges were elevated, and what changed on
administrative and root accounts, by whom (PCI DSS v4 10.2.1.5 / v3.2.1 10.2.5: "all changes to
identification and authentication credentials including creation of new accounts, elevation of
privileges, and all changes, additions, or deletions to accounts with root or administrative
access")?

**CloudTrail fields that carry the answer:** `eventName` of the IAM calls (CreateUser,
CreateAccessKey, CreateLoginProfile, AttachUserPolicy, PutRolePolicy, CreateRole,
UpdateAssumeRolePolicy, DeactivateMFADevice...), `requestParameters` (`userName`, `roleName`,
`policyArn`, `policyDocument`, `assumeRolePolicyDocument`), `responseElements` (the new user's or
key's ids), `userIdentity` (granted by whom), `errorCode` (refused).

The ledger is reconstructed from CloudTrail alone; a credential report and the authorization
details (`aws iam get-credential-report`, `get-account-authorization-details`), when given or
already added to the case with `iamforensics iam`, add the best-practice audit and who is admin
now.""",
    ),
    (
        "params",
        PARAMS_COMMON
        + """
CREDENTIAL_REPORT = None  # credential report file(s) (CSV or the CLI's JSON); None: the case's, if any
AUTHORIZATION_DETAILS = None  # get-account-authorization-details file(s); None: the case's, if any
AS_OF = None  # the audit's date, e.g. "2024-05-12" (default: the report's GeneratedTime; a CSV report has none)""",
    ),
    ("code", SETUP),
    (
        "md",
        """## IAM inputs

The credential report and authorization details given as parameters, else those the case holds
(added by `iamforensics iam`, checked against their sha256).""",
    ),
    (
        "code",
        """from iamforensics import iam
from iamforensics.iam.cli import stored_inputs

report_files = CREDENTIAL_REPORT or stored_inputs(case.path, "credential-report")
details_files = AUTHORIZATION_DETAILS or stored_inputs(case.path, "authorization-details")
details = iam.load_authorization_details(details_files) if details_files else None
credentials = iam.credential_report(report_files) if report_files else None
print(f"credential report: {report_files or 'none'}")
print(f"authorization details: {details_files or 'none'}")""",
    ),
    (
        "md",
        """## The privilege ledger

One row per IAM change: the `subject` who gained or lost, what was `granted`, the `admin_level`
of what was granted (`full`, `iam`, `conditional`, `no`, `unknown`), `self_grant`, the `actor`
and the `origin` behind it, and the `outcome` (a denied attempt is evidence too).""",
    ),
    (
        "code",
        """ledger = iam.privilege_ledger(case, start=START, end=END, details=details)
ledger_columns = ["event_time", "account_id", "event_name", "subject_type", "subject", "granted", "admin_level",
                  "subject_admin", "self_grant", "actor", "origin", "outcome", "source_ip_address"]
ledger[ledger_columns]""",
    ),
    (
        "md",
        """IAM changes per actor over time (triangle: a change; cross: a refused one). Changes by a user
that never administers IAM, at night, in a burst, are the escalation and persistence.""",
    ),
    (
        "code",
        """from iamforensics.analysis import timeline as tl
from iamforensics.plots import timeline as pt

ax = pt.swimlane(tl.timeline(case, START, END, event_names=list(iam.LEDGER_EVENTS)), title="IAM changes by actor")
caption(ax, case.name, window)""",
    ),
    (
        "md",
        """## 1. Creation of accounts and credentials

New users and roles, and new passwords, access keys and other credentials given to them.""",
    ),
    (
        "code",
        'ledger[ledger["category"].isin(["identity", "credential"]) | (ledger["event_name"] == "CreateRole")][ledger_columns]',
    ),
    (
        "md",
        """## 2. Elevation of privileges

Policies attached or written, group memberships, trust policies: every grant, those of a
`full` or `iam` admin level first. A `self_grant` of AdministratorAccess is the classic
escalation; a role trusting an outside account is a backdoor.""",
    ),
    (
        "code",
        """grants = ledger[ledger["category"].isin(["permission", "trust"]) & (ledger["effect"] != "revoke")]
grants[grants["admin_level"].isin(["full", "iam"])][ledger_columns]""",
    ),
    (
        "md",
        "Every grant, admin or not, with the principals a trust policy lets in and the outside accounts among them.",
    ),
    (
        "code",
        """grants[ledger_columns + ["trusted_principals", "outside_accounts"]]""",
    ),
    (
        "md",
        """## 3. Changes to administrative and root accounts

Every change whose subject is root, is admin in the authorization details (`subject_admin`), or
was itself granted full or IAM admin in the window (the ledger's own evidence): MFA removed,
keys and passwords added to an account that can do anything.""",
    ),
    (
        "code",
        """made_admin = ledger.loc[ledger["admin_level"].isin(["full", "iam"]), "subject"].dropna().unique().tolist()
print("granted admin in the window:", made_admin)
ledger[ledger["subject_admin"].isin(["full", "iam"]) | (ledger["subject_type"] == "root")
       | ledger["subject"].isin(made_admin)][ledger_columns]""",
    ),
    (
        "md",
        """Who is admin-equivalent now, by the authorization details (`*` or `iam:*` on `*`, root
included), with the policies that make them so; empty without the details.""",
    ),
    (
        "code",
        """iam.admin_principals(details) if details is not None else print("no authorization details: admins unknown")""",
    ),
    (
        "md",
        """What the admin-equivalent principals did (privileged, non-read-only calls): those the
authorization details name, else those the ledger shows being granted admin. Root's activity is
in 03_mfa.""",
    ),
    (
        "code",
        """admins = details if details is not None else ledger.loc[ledger["admin_level"].isin(["full", "iam"]), "subject_arn"].dropna().unique().tolist()
iam.admin_activity(case, admins, start=START, end=END)""",
    ),
    (
        "md",
        """## Credential report audit (when a credential report is given)

Root keys and MFA, MFA for privileged and console users, key age and use, unused users and
passwords: `fail` and `warn` first.""",
    ),
    (
        "code",
        """audit = iam.audit(credentials, details, as_of=AS_OF, case=case) if credentials is not None else None
audit.sort_values("status") if audit is not None else print("no credential report: audit skipped")""",
    ),
    ("md", next_links("07_iam_changes")),
]

LEADS["08_report"] = [
    (
        "md",
        """# Report: export the charts and tables

**Question:** which charts and tables go into the written report, and where are they?

**CloudTrail fields that carry the answer:** those of the notebooks before (`eventTime`,
`eventName`, `userIdentity`, `sourceIPAddress`, `errorCode`, the MFA and session fields); here
they are exported, not analysed again.

Charts are saved as PNG (300 dpi) and SVG; tables as CSV and one XLSX workbook, every cell that
could start a spreadsheet formula neutralized (record text is attacker-controlled). The
defaults point at the sample scenario's compromised user and key.""",
    ),
    (
        "params",
        PARAMS_COMMON
        + f'''
OUT = "../out/report"  # the folder the report files are written to
ACTOR = "{DAVE}"  # the principal of interest
ACCESS_KEY_ID = "{LEAKED_KEY}"  # the key whose session tree is exported
REPORT_FORMATS = ["png"]  # figure formats of the full report: any of "png", "svg", "pdf" (each costs time)'''
        + PARAM_FREQ,
    ),
    ("code", SETUP),
    (
        "code",
        """from pathlib import Path

from iamforensics import iam
from iamforensics.analysis import api_calls as ac
from iamforensics.analysis import mfa
from iamforensics.analysis import sessions as st
from iamforensics.analysis import source_ips as si
from iamforensics.analysis import timeline as tl
from iamforensics.plots import api_calls as pa
from iamforensics.plots import mfa as pm
from iamforensics.plots import sessions as psess
from iamforensics.plots import source_ips as ps
from iamforensics.plots import timeline as pt
from iamforensics.report import save_figure, write_csv, write_xlsx

out = Path(OUT)
figures = out / "figures"
tables_dir = out / "tables"
print(f"writing to {out.resolve()}")""",
    ),
    (
        "md",
        """## Charts

Each chart carries a caption with the case and the window; the files are listed at the end.""",
    ),
    (
        "code",
        """ax = pt.event_rate(tl.event_rate(case, START, END, freq=FREQ), marks=tl.marked_events(case, START, END))
caption(ax, case.name, window)
save_figure(ax, figures / "event_rate.png")
save_figure(ax, figures / "event_rate.svg")""",
    ),
    (
        "code",
        """ax = pt.swimlane(tl.timeline(case, START, END, actor=ACTOR), lane="source_ip_address", title="Events by source address")
caption(ax, case.name, window, note=ACTOR)
save_figure(ax, figures / "actor_swimlane.png")
save_figure(ax, figures / "actor_swimlane.svg")""",
    ),
    (
        "code",
        """ax = pa.bars(ac.histogram(case, by="service", top=15, start=START, end=END), title="Calls per service")
caption(ax, case.name, window)
save_figure(ax, figures / "calls_per_service.png")
save_figure(ax, figures / "calls_per_service.svg")""",
    ),
    (
        "code",
        """ax = pm.sign_in_outcomes(mfa.sign_in_outcomes(case, START, END))
caption(ax, case.name, window)
save_figure(ax, figures / "sign_ins.png")
save_figure(ax, figures / "sign_ins.svg")""",
    ),
    (
        "code",
        """ax = ps.top_ips(si.ip_summary(case, START, END), top=20)
caption(ax, case.name, window)
save_figure(ax, figures / "top_ips.png")
save_figure(ax, figures / "top_ips.svg")""",
    ),
    (
        "code",
        """tree = st.trace(case, access_key_id=ACCESS_KEY_ID)
ax = psess.session_tree(tree, title=f"Sessions below {ACCESS_KEY_ID}")
caption(ax, case.name, None)
save_figure(ax, figures / "session_tree.png")
save_figure(ax, figures / "session_tree.svg")""",
    ),
    (
        "md",
        """## Tables

The tables behind the charts and the findings, as CSV files and as one workbook (a sheet
per table).""",
    ),
    (
        "code",
        """tables = {
    "actors": tl.actor_summary(case, START, END),
    "actor_timeline": tl.timeline(case, START, END, actor=ACTOR),
    "what_changed": tl.what_changed(case, START, END),
    "sign_ins": mfa.sign_ins(case, START, END),
    "source_ips": si.ip_summary(case, START, END),
    "session_tree": tree,
    "session_flags": st.flags(case),
    "findings": case.findings(),
    "privilege_ledger": iam.privilege_ledger(case, start=START, end=END),
}
for name, table in tables.items():
    write_csv(table, tables_dir / f"{name}.csv")
write_xlsx(tables, out / "tables.xlsx")
pd.DataFrame({"table": list(tables), "rows": [len(t) for t in tables.values()]})""",
    ),
    (
        "md",
        """## Files written

Every file of this notebook's exports (the full report follows).""",
    ),
    (
        "code",
        """pd.DataFrame(
    [(str(p.relative_to(out)), p.stat().st_size) for p in [*sorted(figures.iterdir()), *sorted(tables_dir.iterdir()), out / "tables.xlsx"]],
    columns=["file", "bytes"],
)""",
    ),
    (
        "md",
        """## The full report

`iamforensics.report.build_report` (also `iamforensics report --case DIR --out DIR`) writes the
whole report of the window: a self-contained `report.html` with every section, its figures
(in `REPORT_FORMATS`: PNG, SVG, PDF), its tables (CSV and one workbook) and a Timesketch
timeline. It goes into `OUT/report/`, next to the exports above. Open `report.html` in a
browser; it loads nothing from the network.""",
    ),
    (
        "code",
        """from iamforensics.report import build_report

report_html = build_report(case, out / "report", start=START, end=END, formats=REPORT_FORMATS)
print(f"report: {report_html.resolve()}")
pd.DataFrame(
    [(str(p.relative_to(out)), p.stat().st_size) for p in sorted((out / "report").rglob("*")) if p.is_file()],
    columns=["file", "bytes"],
)""",
    ),
    ("md", next_links("08_report")),
]
