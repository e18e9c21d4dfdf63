"""Datasets, vocabulary, the two-view transform and collate.

Importing this package registers every dataset layout in `corpus.DATASETS`: `phoenix2014`
(corpus), `phoenix2014t`, `csl-daily` and `custom` (layouts), and `signworld` (synthetic).
"""

from . import corpus, layouts, synthetic  # noqa: F401  (imported to register their layouts)
