"""The pipeline schedules' names, apart from their table (pipeline.py), so that the command line
can offer them without building it."""

NAMES = ("gpipe", "1f1b", "interleaved", "zb1p", "dualpipe", "dualpipev")     # pipeline.py's rows, in order
# The rows ``symroof plan`` costs (``--schedule``, and every one of them under ``--schedule auto``): those
# whose bubble, memory and sends need only p, m and the chunk's F, B, W. Interleaved needs a virtual-stage
# count; DualPipe's two copies need a gradient sum across each pair of chips, which the roofline does not charge.
PLANNED = ("gpipe", "1f1b", "zb1p", "dualpipev")
# The rows' own asserts, as the table's columns read them and pipeline.check refuses (without building
# the table): (at least this many microbatches per stage, an even number of stages and of microbatches).
# ``dualpipe.py``: an even number of ranks, an even number of at least twice as many microbatches;
# ``dualpipev.py``: at least twice as many microbatches as ranks (github.com/deepseek-ai/DualPipe).
ASSERTS = {"dualpipe": (2, True), "dualpipev": (2, False)}
# Chunks per chip of the rows that run more than one of their own accord (DualPipeV's V): each needs
# that many blocks on each chip (pipeline.check's virtual stages).
CHUNKS = {"dualpipev": 2}
# Copies of the layers a stage axis holds where more than one (DualPipe's two directions): the table's
# ``copies``, and the share 1/copies of the microbatches a chip runs its ends for (pipeline.end_share).
COPIES = {"dualpipe": 2}
