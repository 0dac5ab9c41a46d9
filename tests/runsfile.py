"""One well-formed published run, as a runs file: the tests of the runs-file checks edit it."""

ONE_RUN = """\
runs:
  - name: r
    source: somewhere
    model: llama3-8b
    chip: h100-sxm
    chips: 16
    mesh:
      tensor: {size: 8, link: ici}
      data: {size: 2, link: dcn}
    batch: 4
    seq: 4096
    measured_mfu: 0.4
    split: fit
    convention: {flops: 6N, stated: true, peak: bf16, note: test}
"""


def h100_card_with(tmp_path, key: str, record: str):
    """The shipped h100-sxm card with its calibration's ``key`` line replaced by ``record`` (dropped
    where ``record`` is empty), written under ``tmp_path``: the tests of a calibration record's checks."""
    from pathlib import Path

    card = (Path(__file__).resolve().parent.parent / "models/chips/h100-sxm.yaml").read_text()
    lines = [line for line in card.split("\n") if not line.startswith(f"  {key}:")]
    i = next(i for i, line in enumerate(lines) if line.startswith("  note:"))
    path = tmp_path / "chip.yaml"
    path.write_text("\n".join(lines[:i] + ([f"  {key}: {record}"] if record else []) + lines[i:]))
    return path
