"""Check that a built copy of the docs reads without internet.

    python docs/check_offline.py docs/_build/html

Every page with maths must load MathJax from the site's own ``_static/mathjax`` (which
``sphinx-mathjax-offline`` copies there), and no page may load a script, stylesheet or image
from the network: links to other sites are fine, they are only followed when clicked.
Exits 1, naming the pages, if either fails.
"""

import re
import sys
from pathlib import Path

#: src= or href= of something a browser fetches by itself when it opens the page.
FETCHED = re.compile(r'<(?:script|img)\b[^>]*\bsrc="([^"]+)"|<link\b[^>]*\bhref="([^"]+)"')


def problems(site: Path) -> list[str]:
    """What in the built ``site`` would need the network, one line per page and resource."""
    found = []
    if not (site / "_static" / "mathjax" / "tex-chtml.js").is_file():
        found.append(f"{site}: no _static/mathjax/tex-chtml.js")
    for page in sorted(site.glob("*.html")):
        html = page.read_text(encoding="utf-8")
        for match in FETCHED.finditer(html):
            url = match.group(1) or match.group(2)
            if re.match(r"(https?:)?//", url):
                found.append(f"{page.name}: loads {url}")
        if "math notranslate" in html and "_static/mathjax/tex-chtml.js" not in html:
            found.append(f"{page.name}: has maths but does not load the bundled MathJax")
    return found


if __name__ == "__main__":
    site = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/_build/html")
    lines = problems(site)
    print("\n".join(lines) or f"{site}: every page reads offline")
    sys.exit(1 if lines else 0)
