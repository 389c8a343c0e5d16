"""Built-in data sources for real data sets (all read local files) and the ``precomputed`` miner that
serves the negatives some of them ship with. No torch here: these modules import only the standard
library until data is read."""

from __future__ import annotations

from negkit.data.sources.coco import CocoCaptions, Karpathy
from negkit.data.sources.hf import HFDataset
from negkit.data.sources.labels import VOC2007, CocoLabels, ImageFolder
from negkit.data.sources.negclip import NegClipTsv
from negkit.data.sources.tabular import CsvSource, JsonlSource
from negkit.data.sources.webdataset import WebDatasetSource
from negkit.hookspecs import hookimpl
from negkit.mining.precomputed import Precomputed


@hookimpl
def register_datasets(register):
    for cls in (CocoCaptions, Karpathy, NegClipTsv, CsvSource, JsonlSource, WebDatasetSource, HFDataset,
                ImageFolder, VOC2007, CocoLabels):
        register(cls)


@hookimpl
def register_miners(register):
    register(Precomputed)
