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
