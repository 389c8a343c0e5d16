"""Any Hugging Face ``datasets`` data set (hub name or local folder) with image and caption columns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from negkit.data.sources.common import CachedSource, ListRecords, check_limit
from negkit.errors import DataError


class HFDataset(CachedSource):
    """Image-caption pairs from ``datasets.load_dataset`` (a hub name such as ``"nlphuji/flickr30k"``, a
    packaged builder such as ``"imagefolder"`` with ``data_dir``, or a folder written by
    ``Dataset.save_to_disk``).

    Records are the data set's rows with the image column renamed to ``image`` and the caption column to
    ``caption``. A caption column holding lists (several captions per image) gives one record per
    caption, with ``image_group`` (the row's index) saying which captions describe the same image.
    Nothing is downloaded unless the recipe names a hub data set.

    Parameters:
        path: the ``load_dataset`` path (hub name, builder name or local folder).
        config: the data set's configuration name (``name=`` of ``load_dataset``), if any.
        data_dir: ``data_dir=`` of ``load_dataset`` (e.g. the folder of an ``imagefolder`` data set).
        data_files: ``data_files=`` of ``load_dataset``.
        image_column: the column holding images (``datasets.Image`` or file paths).
        caption_column: the column holding the caption (a string or a list of strings).
        split_names: map negkit split names to the data set's (``{test = "validation"}``).
        streaming: stream instead of downloading the whole data set; needs ``limit`` (records are
            materialised up to it).
        limit: keep only the first ``limit`` rows (0 = all).
        revision: the hub revision to load.
        cache_dir: the ``datasets`` cache folder.
    """

    name = "hf"

    def __init__(self, path: str = "", config: str | None = None, data_dir: str | None = None,
                 data_files: str | list[str] | dict[str, str | list[str]] | None = None,
                 image_column: str = "image", caption_column: str = "caption",
                 split_names: dict[str, str] | None = None, streaming: bool = False, limit: int = 0,
                 revision: str | None = None, cache_dir: str | None = None) -> None:
        if streaming and not limit:
            raise ValueError("streaming = true needs limit > 0 (records are random-access, so a stream is "
                             "read up to limit)")
        self.path = path
        self.config = config
        self.data_dir = data_dir
        self.data_files = data_files
        self.image_column = image_column
        self.caption_column = caption_column
        self.split_names = dict(split_names or {})
        self.streaming = streaming
        self.limit = check_limit(limit)
        self.revision = revision
        self.cache_dir = cache_dir

    def _load(self, split: str) -> Any:
        import datasets

        if not self.path:
            raise DataError("hf: 'path' is not set; expected a datasets name (e.g. \"nlphuji/flickr30k\") or a "
                            "local folder")
        theirs = self.split_names.get(split, split)
        local = Path(self.path).expanduser()
        try:
            if local.is_dir() and any((local / f).is_file() for f in ("dataset_info.json", "dataset_dict.json")):
                ds = datasets.load_from_disk(str(local))
                if isinstance(ds, datasets.DatasetDict):
                    ds = ds[theirs]
            else:
                ds = datasets.load_dataset(self.path, self.config, data_dir=self.data_dir,
                                           data_files=self.data_files, split=theirs, streaming=self.streaming,
                                           revision=self.revision, cache_dir=self.cache_dir)
        except KeyError:
            raise DataError(f"hf: {self.path!r} has no split {theirs!r} (map names with split_names)") from None
        except ConnectionError as exc:
            raise DataError(f"hf: 'path' = {self.path!r}: cannot reach the Hugging Face hub ({exc}); download it on a "
                            f"machine with network (it is cached) or give a local folder") from None
        except (FileNotFoundError, ValueError, datasets.exceptions.DatasetNotFoundError) as exc:
            raise DataError(f"hf: 'path' = {self.path!r}: cannot load split {theirs!r}: {exc}") from None
        if self.streaming:
            rows = [self._row(r, i) for i, r in zip(range(self.limit), ds)]
            return ListRecords([r for row in rows for r in row], info={"streamed": len(rows)})
        columns = ds.column_names
        for key, col in (("image_column", self.image_column), ("caption_column", self.caption_column)):
            if col not in columns:
                raise DataError(f"hf: {self.path!r} ({theirs}): no column {col!r} (set {key}); columns: "
                                f"{', '.join(columns)}")
        if self.limit:
            ds = ds.select(range(min(self.limit, len(ds))))
        if self.image_column != "image":
            if "image" in columns:
                ds = ds.remove_columns("image")
            ds = ds.rename_column(self.image_column, "image")
        if self.caption_column != "caption":
            if "caption" in columns:
                ds = ds.remove_columns("caption")
            ds = ds.rename_column(self.caption_column, "caption")
        if ds.features["caption"].__class__.__name__ in ("Sequence", "List", "LargeList"):
            keep = [c for c in ds.column_names if c != "caption"]
            ds = ds.map(_explode, batched=True, with_indices=True, remove_columns=ds.column_names,
                        fn_kwargs={"keep": keep})
        return ds

    def _row(self, row: dict[str, Any], i: int) -> list[dict[str, Any]]:
        for col in (self.image_column, self.caption_column):
            if col not in row:
                raise DataError(f"hf: {self.path!r}: streamed row {i} has no column {col!r}; columns: {', '.join(row)}")
        base = {k: v for k, v in row.items() if k not in (self.image_column, self.caption_column)}
        captions = row[self.caption_column]
        if isinstance(captions, list):  # one image, several captions: ``image_group`` says which belong together
            base.setdefault("image_group", i)
        else:
            captions = [captions]
        return [{**base, "image": row[self.image_column], "caption": c} for c in captions]


def _explode(batch: dict[str, list], indices: list[int], keep: list[str]) -> dict[str, list]:
    """One record per caption of a row with a list of captions; ``image_group``, the row's index, says which
    captions describe the same image (``DataSource.caption_groups``)."""
    group = "image_group" not in keep
    out: dict[str, list] = {k: [] for k in [*keep, "caption", *(["image_group"] if group else [])]}
    for i, captions in enumerate(batch["caption"]):
        for caption in captions:
            for k in keep:
                out[k].append(batch[k][i])
            out["caption"].append(caption)
            if group:
                out["image_group"].append(indices[i])
    return out
