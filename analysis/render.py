"""Tables as Markdown (terminal), LaTeX (booktabs) and CSV."""

from __future__ import annotations

import csv
import io

from analysis.tables import MISSING, Cell, Table


def _text(cell: Cell | float | None, scale: float) -> str:
    if isinstance(cell, Cell):
        return cell.text(scale)
    return MISSING if cell is None else f"{cell:.1f}"


def markdown(t: Table) -> str:
    head = [*t.index, *t.columns]
    lines = [f"**{t.title}**", "", f"_{t.caption}_", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for labels, cells in t.rows:
        lines.append("| " + " | ".join([*labels, *(_text(c, t.scale) for c in cells)]) + " |")
    if not t.rows:
        lines.append("| " + " | ".join([MISSING] * len(head)) + " |")
    return "\n".join(lines)


def _tex(s: str) -> str:
    return (s.replace("\\", "\\textbackslash{}").replace("_", "\\_").replace("%", "\\%")
            .replace("δ", "$\\delta$").replace("α", "$\\alpha$").replace("β", "$\\beta$")
            .replace("±", "$\\pm$").replace("✓", "\\checkmark").replace("×", "$\\times$")
            .replace("–", "--"))


def latex(t: Table) -> str:
    head = [*t.index, *t.columns]
    lines = ["\\begin{table}[t]", "\\centering", f"\\caption{{{_tex(t.title)}. {_tex(t.caption)}}}",
             f"\\label{{tab:{t.key}}}", f"\\begin{{tabular}}{{{'l' * len(t.index)}"
             f"{'r' * len(t.columns)}}}", "\\toprule",
             " & ".join(_tex(h) for h in head) + " \\\\", "\\midrule"]
    for labels, cells in t.rows:
        lines.append(" & ".join(_tex(x) for x in [*labels, *(_text(c, t.scale) for c in cells)])
                     + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(lines)


def csv_text(t: Table) -> str:
    """One column per value: mean, std and n for ours, the number for the paper's."""
    out = io.StringIO()
    writer = csv.writer(out)
    head = list(t.index)
    for name in t.columns:
        head += [name] if name.startswith("paper") else [f"{name} mean", f"{name} std",
                                                         f"{name} n"]
    writer.writerow(head)
    for labels, cells in t.rows:
        row = list(labels)
        for name, cell in zip(t.columns, cells, strict=True):
            if isinstance(cell, Cell):
                row += ["" if not cell.n else f"{cell.mean:.6f}",
                        "" if cell.n < 2 else f"{cell.std:.6f}", cell.n]
            else:
                row += ["" if cell is None else cell] if name.startswith("paper") else \
                       ["", "", 0]
        writer.writerow(row)
    return out.getvalue()


FORMATS = {"md": markdown, "tex": latex, "csv": csv_text}
