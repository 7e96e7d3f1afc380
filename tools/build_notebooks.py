"""Write the guided notebooks in notebooks/ from the cells below (reviewable, reproducible).

Every notebook is plain data here: a first markdown cell with the question and the
CloudTrail fields that carry the answer, one cell tagged ``parameters`` (papermill), then
calls into the package only. The notebooks are written without outputs and with stable
cell ids, so running this script twice gives the same bytes.

Usage::

    .venv/bin/python tools/build_notebooks.py          # (re)write notebooks/*.ipynb
    .venv/bin/python tools/build_notebooks.py --check  # exit 1 when notebooks/ is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"

# The scenario of data/samples (see data/samples/ANSWERS.yaml): the defaults point at it.
DAVE = "arn:aws:iam::058264710392:user/developers/dave"
LEAKED_KEY = "AKIALXRK7KTX2MSKAWTN"
CHAINED_SESSION = "ASIAN7KKGMPU4FGBFBGI"
EXPIRED_USE_EVENT = "8d9584b9-99c6-4ab3-a128-d3ac97fd1625"
SINCE = "2024-05-08"

TITLES = {
    "00_start_here": "Start here: the case overview",
    "01_timeline": "Timeline: what happened, and when",
    "02_api_calls": "API calls: what was called, what failed, what is new",
    "03_mfa": "MFA: sign-ins and sensitive calls without MFA",
    "04_source_ips": "Source IPs: where the calls came from",
    "05_sessions": "Sessions: who is behind a key or a role session",
    "06_detections": "Detections: findings and triage",
    "07_iam_changes": "IAM changes: accounts, privileges, admin and root (PCI DSS 10.2.5)",
    "08_report": "Report: export the charts and tables",
}

PARAMS_COMMON = """# Parameters (papermill injects its own values after this cell).
CASE = "../out/case"  # the case folder; `make demo` builds the sample case there
START = None  # start of the time window (UTC, inclusive), e.g. "2024-05-08"; None: whole case
END = None  # end of the time window (UTC, exclusive); None: whole case"""

SETUP = """import pandas as pd

import iamforensics as ifx
from iamforensics.report import caption, use_house_style

use_house_style()
pd.set_option("display.max_colwidth", 80)
case = ifx.open_case(CASE)
window = None if START is None and END is None else f"{START or 'start of case'} to {END or 'end of case'}"
print(f"{case}: {len(case):,} events; window: {window or 'whole case'} (UTC)")"""


def next_links(current: str) -> str:
    """The 'what to look at next' cell: links to every other notebook."""
    lines = ["## What to look at next", ""]
    for stem, title in TITLES.items():
        if stem != current:
            lines.append(f"- [{stem}.ipynb]({stem}.ipynb): {title}")
    return "\n".join(lines)


# Each notebook: a list of ("md" | "params" | "code", source). The first cell is markdown.
CELLS: dict[str, list[tuple[str, str]]] = {}

CELLS["00_start_here"] = [
    (
        "md",
        """# Start here: the case overview

**Question:** what evidence is in this case, which accounts, regions, identities and calls does it
cover, and where should the investigation start?

**CloudTrail fields that carry the answer:** `eventTime` (the time range), `recipientAccountId`
(accounts), `awsRegion`, `userIdentity.type` and `userIdentity.arn` (who acted), `eventName` and
`eventSource` (what was called); the case manifest adds what was read, the duplicates removed and
what was quarantined, with each evidence file's sha256.

Set `EVIDENCE` to a list of paths (files, folders, archives, `s3://...`) to ingest them into
`CASE` first; leave it `None` to open an existing case (`make demo` builds the sample case).""",
    ),
    (
        "params",
        PARAMS_COMMON
        + """
EVIDENCE = None  # e.g. ["../data/samples/AWSLogs"]: ingested into CASE before the overview
JOBS = 1  # worker processes for the ingest""",
    ),
    ("md", "## Ingest (only when `EVIDENCE` is given)"),
    (
        "code",
        """import iamforensics as ifx

if EVIDENCE:
    ingest_report = ifx.ingest(EVIDENCE, CASE, jobs=JOBS)
    print(ingest_report.summary())""",
    ),
    (
        "md",
        """The evidence as collected, checked against the CloudTrail digest files it holds (hash chain
per trail and region, every listed log file's SHA-256): `modified` or `missing` files are
tampering or lost evidence; `not-covered` for every file means the evidence came without digests
(see *Evidence integrity* in the README for signatures and `iamforensics verify`).""",
    ),
    (
        "code",
        """if EVIDENCE:
    from iamforensics import integrity

    verification = integrity.verify(EVIDENCE)
    print(verification.summary())""",
    ),
    ("code", SETUP),
    (
        "md",
        """## The case overview

Events and their time range, ingest runs (records read, duplicates removed, quarantined), and
the most frequent accounts, regions, identity types and event names. A large `duplicates` count
is normal when an organization trail repeats the account trails; a non-zero `quarantined` count
is evidence the kit could not read: look at the reasons before trusting absences.""",
    ),
    (
        "code",
        """from iamforensics.info import format_info

info = case.info()
print(format_info(info))""",
    ),
    (
        "code",
        """runs = case.manifest["runs"]
pd.json_normalize(runs).drop(columns=["sources", "digests"], errors="ignore")""",
    ),
    (
        "md",
        """Evidence files by reader format and compression, with the records each gave: a format you
did not expect (or many `quarantined`) means the evidence is not what it was said to be.""",
    ),
    (
        "code",
        """sources = pd.concat([pd.DataFrame(run["sources"]) for run in runs], ignore_index=True)
sources.groupby(["format", "compression"], dropna=False).agg(
    files=("sha256", "size"), records=("records", "sum"), quarantined=("quarantined", "sum")
).reset_index()""",
    ),
    (
        "md",
        """## Activity over time

Events per hour, reads, writes and errors stacked, with a dashed line at each event that
changes logging, credentials, principals or MFA (StopLogging, CreateAccessKey,
DeactivateMFADevice...). Read it for bursts of writes or errors and for marks at odd hours;
a gap in the bars can be quiet time or missing logs (check the marks for StopLogging).""",
    ),
    (
        "code",
        """from iamforensics.analysis import timeline as tl
from iamforensics.plots import timeline as pt

ax = pt.event_rate(tl.event_rate(case, START, END, freq="1h"), marks=tl.marked_events(case, START, END))
caption(ax, case.name, window)""",
    ),
    (
        "md",
        """The same events as a day x hour-of-day heatmap (UTC): routine work shows as the same hours
every day; a hot cell far from them (here, 02:00 UTC on 8 May, the attacker's burst) deserves a
look.""",
    ),
    (
        "code",
        """ax = pt.hourly_heatmap(tl.hourly_activity(case, START, END))
caption(ax, case.name, window)""",
    ),
    (
        "md",
        """## Who acted

One row per principal: first and last seen, events, writes, errors, distinct APIs, regions,
addresses, user agents and keys. An IAM user with many addresses or user agents, or a sudden
error rate, is where to start; pass its ARN or key to the other notebooks.""",
    ),
    ("code", "tl.actor_summary(case, START, END).head(20)"),
    (
        "md",
        """## Marked events

Every logging, credential, principal and MFA change in the window, in time order.""",
    ),
    ("code", "tl.marked_events(case, START, END)"),
    ("md", next_links("00_start_here")),
]

CELLS["01_timeline"] = [
    (
        "md",
        """# Timeline: what happened, and when

**Question:** what did a principal (or one of its access keys) do, in what order, from where,
and what did it change?

**CloudTrail fields that carry the answer:** `eventTime`, `eventName`, `eventSource`,
`userIdentity.arn` and `userIdentity.accessKeyId` (who, with which key), `sourceIPAddress` and
`userAgent` (from where, with what), `readOnly` and `errorCode` (read, write or error),
`resources` and `requestParameters` (what was changed).

The defaults point at the sample scenario's leaked key (`AKIALXRK7KTX2MSKAWTN`, user `dave`).""",
    ),
    (
        "params",
        PARAMS_COMMON
        + f'''
ACCESS_KEY_ID = "{LEAKED_KEY}"  # the key of interest (None: every key)
ACTOR = None  # or a principal ARN, e.g. "{DAVE}"''',
    ),
    ("code", SETUP),
    (
        "code",
        """from iamforensics.analysis import timeline as tl
from iamforensics.plots import timeline as pt

events = tl.timeline(case, START, END, actor=ACTOR, access_key_id=ACCESS_KEY_ID)
print(f"{len(events):,} events")
events["kind"].value_counts()""",
    ),
    (
        "md",
        """## Swimlane per source address

One lane per address the key was used from, a marker per event: circle read, triangle write,
cross error. Lanes that appear late and carry writes and errors are the ones to question:
here the leaked key's lanes from 5.188.10.77 (Russia) and 193.32.162.80 (Romania) in the night of
8 May, next to the owner's usual addresses in the United Kingdom.""",
    ),
    (
        "code",
        """ax = pt.swimlane(events, lane="source_ip_address", title="Events by source address")
caption(ax, case.name, window)""",
    ),
    (
        "md",
        """## Rate and hours

Events per hour with the logging, credential and MFA marks of the same principal, then the
hour-of-day heatmap: the owner works in office hours, the attacker at night (UTC).""",
    ),
    (
        "code",
        """ax = pt.event_rate(
    tl.event_rate(case, START, END, freq="1h", actor=ACTOR, access_key_id=ACCESS_KEY_ID),
    marks=tl.marked_events(case, START, END),
    title="Events per hour (marks: the whole case)",
)
caption(ax, case.name, window)""",
    ),
    (
        "code",
        """ax = pt.hourly_heatmap(tl.hourly_activity(case, START, END, actor=ACTOR, access_key_id=ACCESS_KEY_ID))
caption(ax, case.name, window)""",
    ),
    (
        "md",
        """## The events

Every event in time order; `kind` is read, write or error. Filter the frame (`events[events.kind ==
"write"]`) or narrow `START`/`END` to read a burst closely.""",
    ),
    ("code", 'events[events["kind"] != "read"]'),
    (
        "md",
        """## What changed

Writes grouped by the resource they acted on (the `resources` ARNs, else the name in
`requestParameters`), most recent first: the persistence and the damage. Failed calls changed
nothing and are left out.""",
    ),
    ("code", "tl.what_changed(case, START, END, actor=ACTOR, access_key_id=ACCESS_KEY_ID)"),
    (
        "md",
        """## Who else was active

The same summary for every principal in the window, to compare the key's owner with its peers.""",
    ),
    ("code", "tl.actor_summary(case, START, END).head(15)"),
    ("md", next_links("01_timeline")),
]

CELLS["02_api_calls"] = [
    (
        "md",
        """# API calls: what was called, what failed, what is new

**Question:** which services and APIs were called, which calls were denied (reconnaissance walks
many APIs and hits AccessDenied), and which APIs a principal called for the first time?

**CloudTrail fields that carry the answer:** `eventSource` (the service), `eventName` (the API),
`readOnly`, `errorCode` and `errorMessage` (AccessDenied, UnauthorizedOperation...),
`userIdentity.arn`, `sourceIPAddress`.

The defaults point at the sample scenario's compromised user `dave`; `SINCE` splits the case into
a baseline (before) and the investigation window (from then on).""",
    ),
    (
        "params",
        PARAMS_COMMON
        + f'''
ACTOR = "{DAVE}"  # the principal of interest
SINCE = "{SINCE}"  # APIs first called from this time on are "new" (baseline: before it)''',
    ),
    ("code", SETUP),
    (
        "md",
        """## Calls per service

Bars stacked read / write / error for the top services of the whole account. A service that is
mostly errors, or writes to a service nobody usually writes to, stands out.""",
    ),
    (
        "code",
        """from iamforensics.analysis import api_calls as ac
from iamforensics.analysis import timeline as tl
from iamforensics.plots import api_calls as pa

ax = pa.bars(ac.histogram(case, by="service", top=15, start=START, end=END), title="Calls per service")
caption(ax, case.name, window)""",
    ),
    (
        "md",
        """## The principal's APIs

The same bars for `ACTOR`'s event names: the long tail of IAM, Secrets Manager and RDS reads with
errors is the reconnaissance.""",
    ),
    (
        "code",
        """ax = pa.bars(
    ac.histogram(case, by="event_name", top=25, start=START, end=END, actor=ACTOR),
    title="API calls of the principal",
)
caption(ax, case.name, window, note=str(ACTOR))""",
    ),
    (
        "md",
        """## Errors

Failed calls by error code, then the error rate over time (line, right axis) on the number of
events (grey bars): a spike of errors on few events is a principal probing what it may do.""",
    ),
    ("code", 'ac.histogram(case, by="error_code", top=10, start=START, end=END)'),
    (
        "code",
        """ax = pa.error_rate(tl.event_rate(case, START, END, freq="1h"))
caption(ax, case.name, window)""",
    ),
    (
        "md",
        """## Denied bursts

AccessDenied / UnauthorizedOperation calls of one principal, each within 5 minutes of the
previous, at least 10 calls over at least 3 APIs: reconnaissance rather than one broken script.
`event_ids` lists the calls of each burst.""",
    ),
    ("code", 'ac.denied_bursts(case, START, END, gap="5min", min_events=10, min_apis=3)'),
    (
        "md",
        """## APIs new for the principal

APIs `ACTOR` called from `SINCE` on that it never called before: a developer's key suddenly
listing users, roles and secrets, attaching policies and stopping the trail.""",
    ),
    ("code", "ac.first_seen_apis(case, since=SINCE, end=END, actor=ACTOR)"),
    (
        "md",
        """## Rare APIs, account-wide

(Service, API) pairs called at most 3 times by a single principal in the window: rare calls such
as StopLogging, ModifySnapshotAttribute or DeactivateMFADevice surface here even without a rule.""",
    ),
    ("code", "ac.rare_apis(case, START, END)"),
    ("md", next_links("02_api_calls")),
]

CELLS["03_mfa"] = [
    (
        "md",
        """# MFA: sign-ins and sensitive calls without MFA

**Question:** who signed in to the console, did it succeed, was MFA used; which sensitive calls
(IAM writes, STS credential issuance, trail and MFA-device changes) were made without MFA; who
changed MFA devices; what did root do?

**CloudTrail fields that carry the answer:** `eventName` `ConsoleLogin`,
`responseElements.ConsoleLogin` (Success / Failure), `additionalEventData.MFAUsed` and
`MFAIdentifier`, `userIdentity.sessionContext.attributes.mfaAuthenticated` (sessions),
`userIdentity.type` (Root, IAMUser, SAMLUser...), `errorMessage` (Failed authentication).

SAML, web-identity and Identity Center principals are `mfa at IdP`: AWS cannot see the IdP's
MFA, so they are never counted as "no MFA". The defaults point at the sample scenario's
compromised user `dave`.""",
    ),
    (
        "params",
        PARAMS_COMMON
        + f'''
ACTOR = "{DAVE}"  # the principal whose calls without MFA are listed (None: everyone)''',
    ),
    ("code", SETUP),
    (
        "md",
        """## Console sign-ins

One bar per principal type, stacked by result and MFA status. Read it for failures followed by a
success (password guessing) and for successful sign-ins with `no mfa`, root above all.""",
    ),
    (
        "code",
        """from iamforensics.analysis import mfa
from iamforensics.plots import mfa as pm

ax = pm.sign_in_outcomes(mfa.sign_in_outcomes(case, START, END))
caption(ax, case.name, window)""",
    ),
    (
        "code",
        """sign_ins = mfa.sign_ins(case, START, END)
sign_ins[(sign_ins["result"] != "Success") | (sign_ins["mfa_status"] == "no mfa")]""",
    ),
    (
        "md",
        """## Root

Every call by the root user with its MFA status: root should sign in rarely, with MFA, and never
use an access key. Failed sign-ins from a new address followed by a success without MFA are the
scenario's root takeover.""",
    ),
    ("code", "mfa.root_activity(case, START, END)"),
    (
        "md",
        """## MFA device changes

Who created, enabled, deactivated or deleted which MFA device, for whom; `self_service` says
whether the caller acted on its own user. A deactivation from an address the user never used is
the attacker removing the second factor.""",
    ),
    ("code", "mfa.mfa_device_changes(case, START, END)"),
    (
        "md",
        """## Sensitive calls without MFA

IAM writes, STS credential issuance, trail changes and MFA device changes by `ACTOR` made without
MFA (a long-term access key never carries MFA), then the credentials behind all such calls in
the account, most sensitive calls first.""",
    ),
    ("code", "mfa.actions_without_mfa(case, START, END, actor=ACTOR)"),
    ("code", "mfa.sessions_without_mfa(case, START, END)"),
    (
        "md",
        """## MFA coverage per principal

For each human principal, the share of its events made with MFA (at AWS or at the IdP) and
without; the number at the end of a bar counts its sensitive calls without MFA. Principals at
the top of the chart are the least covered.""",
    ),
    (
        "code",
        """coverage = mfa.mfa_coverage(case, START, END)
ax = pm.coverage(coverage)
caption(ax, case.name, window)""",
    ),
    ("code", "coverage.head(15)"),
    ("md", next_links("03_mfa")),
]

CELLS["04_source_ips"] = [
    (
        "md",
        """# Source IPs: where the calls came from

**Question:** from which addresses, countries and networks (ASNs) did each principal act; which
are new for it; is there impossible travel; are instance credentials used from elsewhere?

**CloudTrail fields that carry the answer:** `sourceIPAddress` (an address, or a service name
such as `ec2.amazonaws.com` for calls AWS makes on a principal's behalf), `userAgent`,
`userIdentity.arn`, `userIdentity.accessKeyId`, `eventTime`.

Country and ASN come from the offline GeoLite2 database bundled with `geoip2fast` (no network);
`GEO` takes MaxMind `.mmdb` paths to answer first. The defaults point at the sample scenario's
compromised user `dave`; `SINCE` splits baseline and investigation window.""",
    ),
    (
        "params",
        PARAMS_COMMON
        + f'''
ACTOR = "{DAVE}"  # the principal of interest
SINCE = "{SINCE}"  # addresses first used from this time on are "new" (baseline: before it)
GEO = None  # optional MaxMind .mmdb paths, e.g. ["GeoLite2-City.mmdb", "GeoLite2-ASN.mmdb"]''',
    ),
    ("code", SETUP),
    (
        "md",
        """## Top addresses

Events per address, coloured by class (public, private, aws-service...), labelled with country
and ASN. Public addresses in unexpected countries or hosting ASNs are the leads.""",
    ),
    (
        "code",
        """from iamforensics.analysis import source_ips as si
from iamforensics.plots import source_ips as ps

ips = si.ip_summary(case, START, END, geo=GEO)
ax = ps.top_ips(ips, top=20)
caption(ax, case.name, window)""",
    ),
    ("code", "ips.head(20)"),
    (
        "md",
        """## Countries and networks

Events per country, then per ASN (routable addresses only).""",
    ),
    (
        "code",
        """ax = ps.geo_bars(si.geo_summary(case, START, END, by="country", geo=GEO), title="Events per country")
caption(ax, case.name, window)""",
    ),
    (
        "code",
        """ax = ps.geo_bars(si.geo_summary(case, START, END, by="asn", geo=GEO), title="Events per ASN")
caption(ax, case.name, window)""",
    ),
    (
        "md",
        """## Who used which address

Events per (principal, public address): a row spread over many addresses, or an address shared
by principals that have nothing to do with each other, is worth a question.""",
    ),
    (
        "code",
        """ax = ps.ip_actor_matrix(si.ip_actor_matrix(case, START, END, public_only=True))
caption(ax, case.name, window)""",
    ),
    (
        "md",
        """## The principal's addresses

`ACTOR`'s addresses with country and ASN, and its addresses, countries and ASNs that are new
since `SINCE` (never used in the baseline): the scenario's attacker addresses in Russia, Romania
and Hong Kong.""",
    ),
    ("code", "si.ip_summary(case, START, END, actor=ACTOR, geo=GEO)"),
    ("code", "si.new_for_actor(case, since=SINCE, end=END, geo=GEO)"),
    (
        "md",
        """## Impossible travel

Consecutive calls of one principal from places at least 500 km apart faster than 1,000 km/h.
Places are country centres unless a City database is given, so read it as a lead: VPNs and
cloud egress travel too.""",
    ),
    ("code", "si.impossible_travel(case, START, END, geo=GEO)"),
    (
        "md",
        """## Instance credentials used elsewhere

Sessions of EC2 instance roles used from addresses that other, non-instance principals also
used: stolen instance-profile credentials.""",
    ),
    ("code", "si.instance_credential_use(case, START, END)"),
    ("md", next_links("04_source_ips")),
]

CELLS["05_sessions"] = [
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

CELLS["06_detections"] = [
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
ax = by_tactic.plot.barh(stacked=True, figsize=(9, 0.8 + 0.35 * max(1, len(by_tactic))), title="Findings per tactic")
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

CELLS["07_iam_changes"] = [
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

CELLS["08_report"] = [
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
REPORT_FORMATS = ["png"]  # figure formats of the full report: any of "png", "svg", "pdf" (each costs time)''',
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
        """ax = pt.event_rate(tl.event_rate(case, START, END, freq="1h"), marks=tl.marked_events(case, START, END))
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


def build(stem: str) -> nbformat.NotebookNode:
    """One notebook from its cells, with stable ids and no outputs."""
    nb = new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for i, (kind, source) in enumerate(CELLS[stem]):
        cid = f"{stem[:2]}-{i:02d}"
        if kind == "md":
            cell = new_markdown_cell(source, id=cid)
        else:
            cell = new_code_cell(source, id=cid)
            if kind == "params":
                cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def render(stem: str) -> str:
    return nbformat.writes(build(stem)) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 when a notebook differs from this script")
    args = ap.parse_args(argv)
    NOTEBOOKS.mkdir(exist_ok=True)
    stale = []
    for stem in CELLS:
        path = NOTEBOOKS / f"{stem}.ipynb"
        text = render(stem)
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("stale notebooks (run tools/build_notebooks.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
