"""The pipeline schedules' names, apart from their table (pipeline.py), so that the command line
can offer them without building it."""

NAMES = ("gpipe", "1f1b", "interleaved", "zb1p", "dualpipe", "dualpipev")     # pipeline.py's rows, in order
# The rows ``symroof plan`` costs (``--schedule``, and every one of them under ``--schedule auto``): those
# whose bubble and memory need only p, m and the chunk's F, B, W, and that run on any p and on any m >= p
# the search tries. Interleaved needs a virtual-stage count; DualPipe two copies, an even p and m >= 2p.
PLANNED = ("gpipe", "1f1b", "zb1p")
