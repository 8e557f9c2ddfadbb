"""The TAP service's VOResource record (/tap/resource.xml) and its TAPRegExt capabilities.

The record is validated against the IVOA schemas taplint carries in its jar (VOResource 1.1,
VODataService 1.1, TAPRegExt 1.0, STC, xlink), offline: schema locations are resolved to the
extracted files.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import httpx
import pytest
from lxml import etree

from services.tap.vosi import OUTPUT_FORMATS, UPLOAD_METHODS
from shared.vo.registry import RI, TR, VR, VS, XSI
from tests.conftest import Archive

pytestmark = pytest.mark.integration

SCHEMAS = {
    "VOResource": "VOResource-v1.1.xsd",
    "VODataService": "VODataService-v1.1.xsd",
    "TAPRegExt": "TAPRegExt-v1.0-Erratum1.xsd",
    "stc": "stc-v1.30.xsd",
    "xlink": "xlink.xsd",
    "xml.xsd": "xmlnamespace.xsd",
}
"""Which extracted schema file answers a schemaLocation mentioning each name."""

WRAPPER = f"""<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:vr="{VR}"
    targetNamespace="{RI}" elementFormDefault="unqualified">
  <xs:import namespace="{VR}" schemaLocation="VOResource-v1.1.xsd"/>
  <xs:import namespace="{VS}" schemaLocation="VODataService-v1.1.xsd"/>
  <xs:import namespace="{TR}" schemaLocation="TAPRegExt-v1.0-Erratum1.xsd"/>
  <xs:element name="Resource" type="vr:Resource"/>
</xs:schema>"""
"""RegistryInterface's root element (ri:Resource of type vr:Resource), without its OAI parts."""


def _taplint_jar() -> Path:
    stilts = shutil.which("stilts")
    assert stilts, "stilts is installed by `make install-system`"
    root = Path(stilts).resolve().parent.parent
    jars = sorted(root.glob("share/java/starlink-ttools*.jar")) + sorted(
        Path(stilts).resolve().parent.glob("*.jar")
    )
    assert jars, f"no taplint jar near {stilts}"
    return jars[0]


class _LocalSchemas(etree.Resolver):
    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def resolve(self, system_url: str, public_id: str, context: object) -> object:
        for key, name in SCHEMAS.items():
            if key.lower() in system_url.lower():
                return self.resolve_filename(str(self.folder / name), context)
        return None


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> etree.XMLSchema:
    folder = tmp_path_factory.mktemp("xsd")
    with zipfile.ZipFile(_taplint_jar()) as jar:
        for member in jar.namelist():
            if member.startswith("uk/ac/starlink/ttools/taplint/") and member.endswith(".xsd"):
                (folder / Path(member).name).write_bytes(jar.read(member))
    (folder / "wrapper.xsd").write_text(WRAPPER)
    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(_LocalSchemas(folder))
    return etree.XMLSchema(etree.parse(str(folder / "wrapper.xsd"), parser))


def test_resource_record_is_a_valid_catalog_service(
    http: httpx.Client, schema: etree.XMLSchema, archive: Archive
) -> None:
    response = http.get("/resource.xml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    record = etree.fromstring(response.content)
    assert record.tag == f"{{{RI}}}Resource"
    assert record.get(f"{{{XSI}}}type") == "vs:CatalogService"
    assert record.nsmap["vs"] == VS and record.nsmap["tr"] == TR and record.nsmap["vr"] == VR
    assert record.findtext("identifier", "").startswith("ivo://")
    assert record.findtext("curation/publisher") and record.findtext("content/description")
    # The demo archive is simulated: the record says so first, with what is.
    description = record.findtext("content/description", "")
    assert description.startswith("This archive holds simulated data")
    assert "science products" in description and "final archive" not in description
    schema.assertValid(record)
    caps = {c.get("standardID"): c for c in record.findall("capability")}
    tap = caps["ivo://ivoa.net/std/TAP"]
    assert tap.get(f"{{{XSI}}}type") == "tr:TableAccess"
    assert tap.findtext("interface/accessURL") == f"{archive.base_url}/tap"
    assert "ivo://ivoa.net/std/DataLink#links-1.1" in caps
    assert "ivo://ivoa.net/std/DALI#examples" in caps
    tables = {t.findtext("name") for t in record.iterfind("tableset/schema/table")}
    assert {"isla.sources", "ivoa.obscore", "ila.cons_pub_obs"} <= tables
    columns = record.findall("tableset/schema/table/column")
    assert len(columns) > 100


def test_broken_record_fails_the_schema(schema: etree.XMLSchema, http: httpx.Client) -> None:
    # The validation can fail: a record without its identifier is refused.
    record = etree.fromstring(http.get("/resource.xml").content)
    record.remove(record.find("identifier"))
    assert not schema.validate(record)


def test_capabilities_declare_formats_uploads_and_limits(http: httpx.Client) -> None:
    caps = etree.fromstring(http.get("/capabilities").content)
    tap = next(c for c in caps if c.get("standardID") == "ivo://ivoa.net/std/TAP")
    mimes = {
        f.findtext("mime"): [a.text for a in f.findall("alias")] for f in tap.iter("outputFormat")
    }
    assert {m for m, _ in OUTPUT_FORMATS} == set(mimes)
    assert "fits" in mimes["application/fits"] and "tsv" in mimes["text/tab-separated-values"]
    assert "votable/td" in mimes["application/x-votable+xml;serialization=TABLEDATA"]
    methods = {m.get("ivo-id") for m in tap.iter("uploadMethod")}
    assert methods == set(UPLOAD_METHODS)
    limit = tap.find("uploadLimit/hard")
    assert limit is not None and limit.get("unit") == "byte" and int(limit.text or 0) > 0
    assert tap.find("retentionPeriod/default") is not None
    assert tap.find("executionDuration/hard") is not None
    geo = next(
        f
        for f in tap.iter("languageFeatures")
        if f.get("type") == "ivo://ivoa.net/std/TAPRegExt#features-adqlgeo"
    )
    forms = {f.findtext("form") for f in geo.iter("feature")}
    assert {"POINT", "CIRCLE", "BOX", "POLYGON", "CONTAINS", "INTERSECTS", "DISTANCE"} <= forms
    # Every declared alias is accepted as FORMAT.
    for aliases in mimes.values():
        for alias in aliases:
            answer = http.get(
                "/sync",
                params={
                    "LANG": "ADQL",
                    "QUERY": "SELECT TOP 1 1 AS one FROM ila.band",
                    "FORMAT": alias,
                },
            )
            assert answer.status_code == 200, (alias, answer.text[:300])
