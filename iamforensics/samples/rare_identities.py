"""The two userIdentity types the rest of the week never produces: ``Directory`` and ``Role``.

* ``Directory``: carol, who has no IAM user, works in the company's Amazon WorkDocs site
  (production account, eu-west-1) on weekdays. WorkDocs users live in a directory
  (``d-...``), so CloudTrail names them by a directory ARN. The identity carries exactly the
  fields of the published example (welldone-cloud/aws-summarize-account-activity,
  ``modules/cloudtrail_parser.py``): ``type``, ``arn`` ``arn:aws:ds:<region>:<account>:user/
  d-.../<uuid>``, ``accountId``, ``userName``; no ``principalId`` or ``accessKeyId``.
* ``Role``: AWS's type list describes it ("a persistent IAM identity ... the issuer of the
  role sessions is always the role") without a sample record or the events that carry it.
  The shape is the documented role shape of ``sessionIssuer`` (``type``, ``principalId``
  ``AROA...``, ``arn`` ``...:role/<path><name>``, ``accountId``, ``userName`` = role name); the
  event it is put on (one read-only ``DescribeRegions`` a day by an inventory role) is ours.

Both are benign: nothing here is in the answer key's attack, and the calls are too few and too
plain for any built-in detection rule. Sources: ``data/samples/README.md``.

Examples
--------
>>> from iamforensics.samples.world import BASE, build_world
>>> plan = rare_plan(build_world(7), BASE)
>>> sorted({rec["userIdentity"]["type"] for _, rec in plan.events})
['Role']
"""

from __future__ import annotations

import functools
import random

from .background import CallSession, DayPlan, Spec
from .world import BASE, BROWSER_UA, DAY, HOME, HOUR, OFFICE_IP, PROD, Record, World, record, rng

#: The WorkDocs site's directory (Simple AD) and carol's user id in it.
DIRECTORY_ID = "d-93670b5c2e"
CAROL = "carol@acme.example"
CAROL_ID = "5f2c8e1a-7b3d-4c9e-a061-2d8f4b7e9c13"
#: A role used in its own name (the ``Role`` identity type), outside the attack.
INVENTORY_ROLE = "inventory-reader"
INVENTORY_IP = "54.229.40.11"  # an AWS eu-west-1 address (also a Lambda egress in .world)
BOTO_UA = (
    "Boto3/1.34.84 md/Botocore#1.34.84 ua/2.0 os/linux#6.1.84-99.169.amzn2023.x86_64 "
    "md/arch#x86_64 lang/python#3.12.3 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.84"
)


def ident_directory(account: str, region: str, directory: str, user_id: str, user_name: str) -> Record:
    """A ``Directory`` userIdentity, with the published example's fields only.

    Examples
    --------
    >>> ident_directory("058264710392", "eu-west-1", "d-1", "u", "c@x")["arn"]
    'arn:aws:ds:eu-west-1:058264710392:user/d-1/u'
    """
    return {
        "type": "Directory",
        "arn": f"arn:aws:ds:{region}:{account}:user/{directory}/{user_id}",
        "accountId": account,
        "userName": user_name,
    }


def ident_persistent_role(w: World, account: str, name: str) -> Record:
    """A ``Role`` userIdentity: the role itself, shaped like the documented ``sessionIssuer``.

    Examples
    --------
    >>> from iamforensics.samples.world import build_world
    >>> ident_persistent_role(build_world(7), "058264710392", "inventory-reader")["userName"]
    'inventory-reader'
    """
    return w.role(account, name).issuer()


def _folder(r: random.Random) -> Record:
    return {"folderId": r.choice(FOLDERS)}


def _document(r: random.Random) -> Record:
    return {"documentId": r.choice(DOCUMENTS)}


def _version(r: random.Random) -> Record:
    return {
        "documentId": r.choice(DOCUMENTS),
        "versionId": f"{1714953600 + r.randrange(10**6)}-{r.randrange(10**4)}",
    }


def _upload(r: random.Random) -> Record:
    return {"parentFolderId": r.choice(FOLDERS), "name": f"minutes-{r.randrange(100, 999)}.docx"}


# WorkDocs ids are 64 hex characters (folders, documents); fixed so the site looks the same all week
FOLDERS = tuple(rng(0, "workdocs-folder", i).getrandbits(256).to_bytes(32, "big").hex() for i in range(3))
DOCUMENTS = tuple(rng(0, "workdocs-document", i).getrandbits(256).to_bytes(32, "big").hex() for i in range(6))
WORKDOCS_MIX: tuple[Spec, ...] = (
    ("workdocs.amazonaws.com", "DescribeFolderContents", True, _folder),
    ("workdocs.amazonaws.com", "DescribeFolderContents", True, _folder),
    ("workdocs.amazonaws.com", "GetDocument", True, _document),
    ("workdocs.amazonaws.com", "GetDocumentVersion", True, _version),
    ("workdocs.amazonaws.com", "InitiateDocumentVersionUpload", False, _upload),
)


@functools.lru_cache(maxsize=4)
def rare_plan(w: World, day: int) -> DayPlan:
    """carol's WorkDocs work on weekdays (``Directory``) and the inventory role's daily call (``Role``)."""
    plan = DayPlan()
    r = rng(w.seed, "rare", day)
    t = day + 5 * HOUR + 1800 + r.randrange(900)
    plan.events.append(
        (t, record(r, t, ident_persistent_role(w, PROD, INVENTORY_ROLE), "ec2.amazonaws.com", "DescribeRegions",
                   HOME, INVENTORY_IP, BOTO_UA, PROD, req={"regionSet": {}, "allRegions": False}))
    )  # fmt: skip
    if (day - BASE) // DAY % 7 < 5:  # the week starts on a Monday
        start = day + 9 * HOUR + r.randrange(2 * HOUR)
        ident = ident_directory(PROD, HOME, DIRECTORY_ID, CAROL_ID, CAROL)
        plan.sessions.append(
            CallSession(f"workdocs-{day}", start, start + 90 * 60, PROD, ident, OFFICE_IP, BROWSER_UA,
                        WORKDOCS_MIX, 4.0)
        )  # fmt: skip
    return plan
