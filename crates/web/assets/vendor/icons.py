#!/usr/bin/env python3
"""Builds icons.svg, the sprite of the Lucide icons Peyvand uses (lucide-static 1.62.0, ISC).

    npm pack lucide-static@1.62.0 && tar xzf lucide-static-1.62.0.tgz
    python3 icons.py package/icons > icons.svg

An icon is drawn with <svg class="icon"><use href="…/icons.svg#i-NAME"/></svg>
(`html::icon` in the web crate); add its name to NAMES and run this again.
"""
import re
import sys
from pathlib import Path

NAMES = """
activity arrow-up-down bell box building-2 calendar calendar-clock check chevron-down chevron-left
chevron-right chevron-up circle-alert clock columns-3 command download ellipsis external-link
eye-off file-text filter grip-vertical handshake history house inbox info key-round languages
layout-grid list log-out mail map-pin menu message-circle message-square moon package palette
panel-left pencil phone plus search settings shield sliders-horizontal square-kanban star sun
trash-2 undo-2 upload user user-plus users x
""".split()


def main(folder: str) -> None:
    out = ['<svg xmlns="http://www.w3.org/2000/svg">',
           "<!-- Lucide icons (lucide-static 1.62.0), ISC licence: lucide-LICENSE.txt -->"]
    for name in NAMES:
        text = Path(folder, f"{name}.svg").read_text()
        body = re.search(r"<svg[^>]*>(.*)</svg>", text, re.S).group(1)
        body = " ".join(line.strip() for line in body.strip().splitlines())
        out.append(
            f'<symbol id="i-{name}" viewBox="0 0 24 24"><g fill="none" stroke="currentColor" '
            f'stroke-width="2" stroke-linecap="round" stroke-linejoin="round">{body}</g></symbol>'
        )
    out.append("</svg>")
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1])
