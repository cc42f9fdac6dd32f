"""How assets show tables in their materialisation metadata."""


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    """A Markdown table; numbers with thousands separators, pipes escaped."""

    def cell(value: object) -> str:
        if value is None:
            text = ""
        elif isinstance(value, bool):
            text = str(value).lower()
        elif isinstance(value, int):
            text = f"{value:,}"
        else:
            text = str(value)
        return text.replace("|", "\\|").replace("\n", " ")[:60]

    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
