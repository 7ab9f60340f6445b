"""OpenDocument texts whose pictures are linked (not embedded) to URLs, for sandbox tests."""

from __future__ import annotations

import io
import zipfile

from tests.integration.test_previews import ODT_MANIFEST

FRAME = """<draw:frame draw:name="linked-{number}" text:anchor-type="as-char" svg:width="2cm"
 svg:height="2cm"><draw:image xlink:href="{url}" xlink:type="simple" xlink:show="embed"
 xlink:actuate="onLoad"/></draw:frame>"""

CONTENT = """<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"
 xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0"
 xmlns:xlink="http://www.w3.org/1999/xlink" office:version="1.2">
<office:body><office:text><text:p>Linked pictures: {frames}</text:p></office:text>
</office:body></office:document-content>"""


def odt_linking(urls: list[str]) -> bytes:
    """An OpenDocument text with one picture linked (not embedded) to each of `urls`."""
    frames = "".join(FRAME.format(number=number, url=url)
                     for number, url in enumerate(urls))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text",
                         compress_type=zipfile.ZIP_STORED)
        archive.writestr("META-INF/manifest.xml", ODT_MANIFEST, zipfile.ZIP_DEFLATED)
        archive.writestr("content.xml", CONTENT.format(frames=frames), zipfile.ZIP_DEFLATED)
    return out.getvalue()
