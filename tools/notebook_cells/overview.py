"""Cells of notebooks 00-04: the case overview, timeline, API calls, MFA, source IPs."""

from __future__ import annotations

from . import DAVE, LEAKED_KEY, PARAM_FREQ, PARAMS_COMMON, SETUP, SINCE, next_links

OVERVIEW: dict[str, list[tuple[str, str]]] = {}

OVERVIEW["00_start_here"] = [
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
JOBS = 1  # worker processes for the ingest"""
        + PARAM_FREQ,
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
        """Chain of custody: every evidence file the case recorded at ingest, re-hashed where it is now
(archive members re-read from their archive). `changed` or `missing` means the evidence on disk is
no longer what was ingested; `s3://` sources are not re-fetched.""",
    ),
    (
        "code",
        """from iamforensics import integrity

custody = integrity.check_custody(CASE)
custody["verdict"].value_counts()""",
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

Events per `FREQ` bucket (an hour by default), reads, writes and errors stacked, with a dashed
line at each event that changes logging, credentials, principals or MFA (StopLogging,
CreateAccessKey, DeactivateMFADevice...). Read it for bursts of writes or errors and for marks at odd hours;
a gap in the bars can be quiet time or missing logs (check the marks for StopLogging).""",
    ),
    (
        "code",
        """from iamforensics.analysis import timeline as tl
from iamforensics.plots import timeline as pt

ax = pt.event_rate(tl.event_rate(case, START, END, freq=FREQ), marks=tl.marked_events(case, START, END))
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

OVERVIEW["01_timeline"] = [
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
ACTOR = None  # or a principal ARN, e.g. "{DAVE}"'''
        + PARAM_FREQ,
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

The key's events per `FREQ` bucket, with the whole case's logging, credential and MFA marks,
then its hour-of-day heatmap: the owner works in office hours, the attacker at night (UTC).""",
    ),
    (
        "code",
        """ax = pt.event_rate(
    tl.event_rate(case, START, END, freq=FREQ, actor=ACTOR, access_key_id=ACCESS_KEY_ID),
    marks=tl.marked_events(case, START, END),
    title=f"Events per {FREQ} (marks: the whole case)",
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

OVERVIEW["02_api_calls"] = [
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
SINCE = "{SINCE}"  # APIs first called from this time on are "new" (baseline: before it)'''
        + PARAM_FREQ,
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
        """ax = pa.error_rate(tl.event_rate(case, START, END, freq=FREQ))
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

OVERVIEW["03_mfa"] = [
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

OVERVIEW["04_source_ips"] = [
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
