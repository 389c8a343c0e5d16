"""The official files of each evaluation set and training set ``negkit data get`` can fetch, with checksums,
and the images users must obtain themselves (licences forbid redistribution or the sets are huge).

Checksums are pinned where negkit's authors verified the file; for the others the download prints the
computed sha256 and writes it to ``SHA256SUMS`` so a second machine can compare (``--require-checksums``
refuses unpinned files).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from negkit.atomic import atomic_write
from negkit.errors import DataError, NegkitError

SUGARCREPE_URL = "https://raw.githubusercontent.com/RAIVNLab/sugar-crepe/main/data/{}.json"
BLIP_URL = "https://storage.googleapis.com/sfr-vision-language-research/datasets/{}"
VALSE_URL = "https://raw.githubusercontent.com/Heidelberg-NLP/VALSE/main/data/{}"
GDRIVE_URL = "https://drive.google.com/uc?export=download&id={}"
WINOGROUND_URL = "https://huggingface.co/datasets/facebook/winoground/resolve/main/data/{}"
RAW_GITHUB = "https://raw.githubusercontent.com/{}"


@dataclass(frozen=True)
class RemoteFile:
    """One file: where it comes from, its name under the data set's folder, and its sha256 when pinned."""

    url: str
    dest: str
    sha256: str | None = None
    extract: bool = False  # a zip to unpack next to itself


@dataclass(frozen=True)
class Manual:
    """Images negkit cannot fetch: what they are, where they come from, where to put them."""

    what: str
    source: str
    put_at: str  # relative to the data root given to `negkit data get --to`


@dataclass(frozen=True)
class DataSetEntry:
    name: str
    description: str
    files: tuple[RemoteFile, ...]
    manual: tuple[Manual, ...] = ()
    recipe: str = ""  # recipe keys pointing at what was fetched ({root}: the --to folder)
    needs_token: bool = False  # gated on the Hugging Face hub: set HF_TOKEN after accepting the terms
    notes: tuple[str, ...] = field(default=())


def _sugarcrepe() -> DataSetEntry:
    # sha256 of the official files as published in RAIVNLab/sugar-crepe (verified against the MIT-licensed
    # copies the negkit tests use, and against the repository's main at 0047054b243d)
    sums = {
        "add_att": "012d88d729693d193760e6f3393b06a1cf874380a9db0062e937201199fe044d",
        "add_obj": "1b9d76b93139a937b8dc1ada92a4f05ecc821bb3c291d752428bafadd4bb0682",
        "replace_att": "9fe55fd4c0a9ad1f85d486d9f6d0215b41f867eb025026e7f7b5ce44352545ee",
        "replace_obj": "9d299600639947e9d15281a9ded1382b376cf4ea088a8d08a1314bfe76e81898",
        "replace_rel": "356bcc2fc4c6aed3f4d9fd50acc58489bb1fe70c28791f9368d4cbf9ea39cdc9",
        "swap_att": "7a7ce04e5c4c80412b48c6f0c1347fb1a2f5d54c0be6aa429b64d390e442f8d0",
        "swap_obj": "073cdb8e253d053614e80710834d9773b09dbc1dd0a412f6f9492262caa1dcad",
    }
    return DataSetEntry(
        "sugarcrepe", "SugarCrepe's 7 subsets (7,511 items, MIT licence)",
        tuple(RemoteFile(SUGARCREPE_URL.format(s), f"{s}.json", sha) for s, sha in sums.items()),
        (Manual("COCO val2017 images (5,000 files, 1,560 used)", "http://images.cocodataset.org/zips/val2017.zip",
                "coco/val2017"),),
        recipe='[[eval]]\nname = "sugarcrepe"\ndata_dir = "{root}/sugarcrepe"\nimage_dir = "{root}/coco/val2017"',
    )


def _aro() -> DataSetEntry:
    return DataSetEntry(
        "aro", "ARO's VG-Relation / VG-Attribution files and the Karpathy test captions for COCO/Flickr-Order",
        (RemoteFile(GDRIVE_URL.format("1kX2iCHEv0CADL8dSO1nMdW-V0NqIAiP3"), "visual_genome_relation.json"),
         RemoteFile(GDRIVE_URL.format("13tWvOrNOLHxl3Rm9cR3geAdHx2qR3-Tw"), "visual_genome_attribution.json"),
         RemoteFile(BLIP_URL.format("coco_karpathy_test.json"), "coco_karpathy_test.json"),
         RemoteFile(BLIP_URL.format("flickr30k_test.json"), "flickr30k_test.json")),
        (Manual("ARO's Visual Genome images (vgr_vga_images.zip, ~1 GB, a GQA subset)",
                "Google Drive file 1qaPlrwhGNMrR3a11iopZUT_GPP_LrgP9 (`gdown 1qaPlrwhGNMrR3a11iopZUT_GPP_LrgP9`), "
                "unzipped", "aro/images"),
         Manual("COCO 2014 val images (the Karpathy test images)", "http://images.cocodataset.org/zips/val2014.zip",
                "coco/val2014"),
         Manual("Flickr30k images", "the Flickr30k request form: https://shannon.cs.illinois.edu/DenotationGraph/",
                "flickr30k/flickr30k-images")),
        recipe=('[[eval]]\nname = "aro"\nrelation_file = "{root}/aro/visual_genome_relation.json"\n'
                'attribution_file = "{root}/aro/visual_genome_attribution.json"\nvg_image_dir = "{root}/aro/images"\n'
                'coco_file = "{root}/aro/coco_karpathy_test.json"\ncoco_image_root = "{root}/coco"\n'
                'flickr_file = "{root}/aro/flickr30k_test.json"\nflickr_image_root = "{root}/flickr30k"'),
        notes=("The VG files are served by Google Drive; if the download returns a web page, fetch them with "
               "`gdown <id>` into the folder instead.",),
    )


def _karpathy() -> DataSetEntry:
    names = ("coco_karpathy_train.json", "coco_karpathy_val.json", "coco_karpathy_test.json",
             "flickr30k_train.json", "flickr30k_val.json", "flickr30k_test.json")
    return DataSetEntry(
        "karpathy", "Karpathy splits of COCO and Flickr30k in BLIP's format (train = train + restval, NegCLIP's split)",
        tuple(RemoteFile(BLIP_URL.format(n), n) for n in names),
        (Manual("COCO 2014 train and val images", "http://images.cocodataset.org/zips/train2014.zip and "
                "http://images.cocodataset.org/zips/val2014.zip", "coco/train2014 and coco/val2014"),
         Manual("Flickr30k images", "the Flickr30k request form: https://shannon.cs.illinois.edu/DenotationGraph/",
                "flickr30k/flickr30k-images")),
        recipe=('[data]\nsource = "coco-captions"\n'
                'annotations = {{ train = "{root}/karpathy/coco_karpathy_train.json" }}\nimage_root = "{root}/coco"'),
    )


def _valse() -> DataSetEntry:
    # sha256 of Heidelberg-NLP/VALSE main at 2152d90d4aec (data/ unchanged since a64f89e, "Publish data", 2021)
    files = {
        "existence.json": "b20fca52eba86c544083d423345a2e28e60e601ef61c56c9ac1c73a95a3a6d18",
        "plurals.json": "43760db7fc8c6f2a21d3536d52f81539cb101f3370e8d2effb09de43d91486a3",
        "counting-hard.json": "2cc83615653675fb50914ce2d8ab4041cce1278eed7ac0abf6f319dbce5c967a",
        "counting-small-quant.json": "ca0645885b05738f6c6df2dffec70c669aaff64114017f33425821faab4bc374",
        "counting-adversarial.json": "0d23529308449c98b37a91048a865a5f377325eceb9accd73f2947bc512d12b0",
        "relations.json": "061fc557459c318ccd6734d07c21cfa5bf5ae87aa6b1110b8f5ec3d6b2911043",
        "action-replacement.json": "336ba134f29a3475d0508809067218909a6bd30f079c59309d19244eccb7917f",
        "actant-swap.json": "915294ac3ade7c4c067b1c6841d0db93b60cb8a61ac8e2fb6b125c2a1c0ca93a",
        "coreference-standard.json": "dae1d9eb018acb54e29a1c4983f3563f86ec3b6beb4037a261564270b0473e95",
        "coreference-hard.json": "ef54d8d971d9e0f264e07de08d9915c6e3d6129a2f239888f2b938f5c2eb4139",
        "foil-it.json": "6f6f0d7494271ed28f6e6f075c3ba36ba1bc45d00ecf7403920f060915130460",
    }
    return DataSetEntry(
        "valse", "VALSE's 11 pieces (only items with mturk.caption >= 2 are scored)",
        tuple(RemoteFile(VALSE_URL.format(f), f, sha) for f, sha in files.items()),
        (Manual("Visual7W images (existence, counting-*)", "http://vision.stanford.edu/yukezhu/visual7w_images.zip",
                "valse/images/visual7w"),
         Manual("SWiG images (action-replacement, actant-swap)", "the SWiG release (imSitu images)",
                "valse/images/swig"),
         Manual("VisDial v1.0 val images (coreference-*)", "https://visualdialog.org/data", "valse/images/visdial"),
         Manual("COCO 2017 val (plurals, relations) and 2014 val (foil-it) images",
                "http://images.cocodataset.org/zips/val2017.zip and val2014.zip", "coco/val2017 and coco/val2014")),
        recipe=('[[eval]]\nname = "valse"\ndata_dir = "{root}/valse"\nimage_dir = "{root}/valse/images/visual7w"\n'
                'image_dirs = {{ plurals = "{root}/coco/val2017", relations = "{root}/coco/val2017", '
                'foil-it = "{root}/coco/val2014", action-replacement = "{root}/valse/images/swig", '
                'actant-swap = "{root}/valse/images/swig", coreference-standard = "{root}/valse/images/visdial", '
                'coreference-hard = "{root}/valse/images/visdial" }}'),
    )


def _winoground() -> DataSetEntry:
    return DataSetEntry(
        "winoground", "Winoground's 400 items and images (gated on the Hugging Face hub)",
        (RemoteFile(WINOGROUND_URL.format("examples.jsonl"), "examples.jsonl"),
         RemoteFile(WINOGROUND_URL.format("images.zip"), "images.zip", extract=True)),
        recipe=('[[eval]]\nname = "winoground"\nexamples_file = "{root}/winoground/examples.jsonl"\n'
                'image_dir = "{root}/winoground/images"'),
        needs_token=True,
        notes=("Accept the terms at https://huggingface.co/datasets/facebook/winoground and set HF_TOKEN.",),
    )


VG_IMAGES = Manual("Visual Genome images (VG_100K and VG_100K_2)",
                   "https://homes.cs.washington.edu/~ranjay/visualgenome/api.html (images.zip and images2.zip), "
                   "unzipped", "vg (holding VG_100K/ and VG_100K_2/)")


def _crepe() -> DataSetEntry:
    # unpinned: the copy of RAIVNLab/CREPE that was checked lacks the zip's bytes (too large)
    return DataSetEntry(
        "crepe", "CREPE's productivity hard negatives (atom, swap, negate; complexities 4-12)",
        (RemoteFile(RAW_GITHUB.format("RAIVNLab/CREPE/master/data/prod_hard_negatives.zip"),
                    "prod_hard_negatives.zip", extract=True),),
        (VG_IMAGES,),
        recipe='[[eval]]\nname = "crepe"\ndata_dir = "{root}/crepe/prod_hard_negatives"\nimage_dir = "{root}/vg"',
        notes=("The zip is unpacked next to itself; crepe's data_dir is the folder holding atom/, swap/ and negate/.",),
    )


def _eqben() -> DataSetEntry:
    return DataSetEntry(
        "eqben", "EqBen's annotation files and images (hosted by the EqBen authors, not fetched by negkit)", (),
        (Manual("EqBen's per-subset annotation files (eqbenag.json, eqbengebc.json, eqbenyoucook2.json, "
                "eqbenkubric_loc.json, eqbenkubric_cnt.json, eqbenkubric_attr.json, eqbensd.json; rename the "
                "released files to these names or set files.<subset>)",
                "the download links in https://github.com/Wangt-CN/EqBen (README, 'EqBen data')", "eqben/ann"),
         Manual("EqBen's images (YouCook2 frames are .npy arrays)",
                "the same README's image archives, unpacked so that the files' image0/image1 paths resolve",
                "eqben/images")),
        recipe='[[eval]]\nname = "eqben"\ndata_dir = "{root}/eqben/ann"\nimage_dir = "{root}/eqben/images"',
    )


def _imagecode() -> DataSetEntry:
    # sha256 verified against McGill-NLP/imagecode at 609f07611aed (2,302 descriptions: 1,872 video, 430 static)
    return DataSetEntry(
        "imagecode", "ImageCoDe's validation descriptions (2,302)",
        (RemoteFile(RAW_GITHUB.format("McGill-NLP/imagecode/main/data/valid_data.json"), "valid_data.json",
                    "cb4b8482354ba9bac62b6e101f145f9e59722dcf3b3fd42583f5b6de12bc698a"),),
        (Manual("ImageCoDe's image sets (image-sets.zip, <set>/img0.jpg ... img9.jpg)",
                "the image-sets link in https://github.com/McGill-NLP/imagecode (README, 'Data'), unzipped",
                "imagecode/image-sets"),),
        recipe=('[[eval]]\nname = "imagecode"\ndata_file = "{root}/imagecode/valid_data.json"\n'
                'image_dir = "{root}/imagecode/image-sets"'),
    )


def _svo_probes() -> DataSetEntry:
    # image_urls.txt: sha256 of google-deepmind/svo_probes main at 206219e2afd9 (unchanged since 438143b);
    # svo_probes.csv stays unpinned: the copy of the repository that was checked lacks it (too large)
    return DataSetEntry(
        "svo-probes", "SVO-Probes' sentences and image pairs (svo_probes.csv and image_urls.txt)",
        (RemoteFile(RAW_GITHUB.format("google-deepmind/svo_probes/main/svo_probes.csv"), "svo_probes.csv"),
         RemoteFile(RAW_GITHUB.format("google-deepmind/svo_probes/main/image_urls.txt"), "image_urls.txt",
                    "c8b2513283dd3987aeb10adf48b9cd31a58a837c07664051d4133d3b78642438")),
        (Manual("SVO-Probes' images, named <pos_image_id>.jpg / <neg_image_id>.jpg (many original URLs are gone; "
                "score with skip_missing = true and report the missing count)",
                "the URLs in image_urls.txt (downloaded by the user; Google Image Search results)",
                "svo-probes/images"),),
        recipe=('[[eval]]\nname = "svo-probes"\ndata_file = "{root}/svo-probes/svo_probes.csv"\n'
                'image_dir = "{root}/svo-probes/images"'),
    )


def _vl_checklist() -> DataSetEntry:
    return DataSetEntry(
        "vl-checklist", "VL-CheckList's corpus (YAML files naming each annotation file and image folder)", (),
        (Manual("VL-CheckList's corpus/ folder and its data/ annotation files",
                "a clone of https://github.com/om-ai-lab/VL-CheckList (corpus/, and data/ as its DATASETS.md says)",
                "vl-checklist (holding corpus/ and the paths its YAML files name)"),
         Manual("the images the corpus names (Visual Genome, SWiG, HAKE, VAW)",
                "the sources listed in VL-CheckList's DATASETS.md", "vl-checklist (at each YAML's IMG_ROOT)")),
        recipe=('[[eval]]\nname = "vl-checklist"\ncorpus_dir = "{root}/vl-checklist/corpus"\n'
                'root = "{root}/vl-checklist"'),
    )


def _whatsup() -> DataSetEntry:
    # Google Drive ids as What'sUp's dataset_zoo/aro_datasets.py downloads them
    files = {"controlled_images_dataset.json": "1ap8mmmpQjLIjPGuplkpBgc1hoEHCj4hm",
             "controlled_clevr_dataset.json": "1unNNosLbdy9NDjgj4l8fsQP3WiAAGA6z",
             "coco_qa_one_obj.json": "1RsMdpE9mmwnK4zzMPpC1-wTU_hNis-dq",
             "coco_qa_two_obj.json": "1TCEoM0mgFmz8T4cF7PQ3XJmO6JjtiQ-s",
             "vg_qa_one_obj.json": "1ARMRzRdohs9QTr1gpIfzyUzvW20wYp_p",
             "vg_qa_two_obj.json": "1sjVG5O3QMY8s118k7kQM8zzDZH12i_95"}
    return DataSetEntry(
        "whatsup", "What'sUp's six annotation files (Controlled A/B, COCO-QA and VG-QA with one and two objects)",
        tuple(RemoteFile(GDRIVE_URL.format(i), name) for name, i in files.items()),
        (Manual("What'sUp's controlled photographs", "`gdown 19KGYVQjrV3syb00GgcavB2nZTW5NXX0H` "
                "(controlled_images.tar.gz) and `gdown 13jdBpg8t3NqW3jrL6FK8HO93vwsUjDxG` (controlled_clevr.tar.gz), "
                "unpacked", "whatsup/controlled_images and whatsup/controlled_clevr"),
         Manual("COCO val2017 images", "http://images.cocodataset.org/zips/val2017.zip (or a link to coco/val2017)",
                "whatsup/val2017"),
         Manual("What'sUp's Visual Genome images", "`gdown 1idW7Buoz7fQm4-670n-oERw9U-2JLJvE` (vg_images.tar.gz), "
                "unpacked", "whatsup/vg_images")),
        recipe='[[eval]]\nname = "whatsup"\ndata_dir = "{root}/whatsup"\nimage_root = "{root}/whatsup"',
        notes=("The files are served by Google Drive; if the download returns a web page, fetch them with "
               "`gdown <id>` into the folder instead.",),
    )


def _spec() -> DataSetEntry:
    return DataSetEntry(
        "spec", "SPEC's six subsets (image2text.json, text2image.json and images per subset)", (),
        (Manual("SPEC's data (absolute_size, relative_size, absolute_spatial, relative_spatial, existence, count)",
                "the Hugging Face data set linked from https://github.com/wjpoom/SPEC (README, 'Data'), unpacked",
                "spec (one folder per subset)"),),
        recipe='[[eval]]\nname = "spec"\ndata_dir = "{root}/spec"',
    )


def catalogue() -> dict[str, DataSetEntry]:
    entries = [_sugarcrepe(), _aro(), _karpathy(), _valse(), _winoground(), _crepe(), _eqben(), _imagecode(),
               _svo_probes(), _vl_checklist(), _whatsup(), _spec()]
    return {e.name: e for e in entries}


def get_entry(name: str) -> DataSetEntry:
    entries = catalogue()
    if name not in entries:
        import difflib

        close = difflib.get_close_matches(name, entries, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise NegkitError(f"unknown data set {name!r}.{hint} Known: {', '.join(entries)}")
    return entries[name]


# -- downloading -------------------------------------------------------------------------------------------

Fetcher = Callable[[str, Path, dict[str, str]], None]


def urllib_fetch(url: str, dest: Path, headers: dict[str, str]) -> None:
    """Stream ``url`` (http(s) or file://) into ``dest``."""
    request = urllib.request.Request(url, headers={"User-Agent": "negkit", **headers})
    try:
        with urllib.request.urlopen(request, timeout=60) as response, open(dest, "wb") as out:  # noqa: S310
            shutil.copyfileobj(response, out, length=1 << 20)
    except OSError as exc:  # URLError, HTTPError, timeouts are all OSErrors
        raise DataError(f"download failed: {url}: {exc}") from None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class FileResult:
    dest: Path
    status: str  # "downloaded", "present", "unpinned"
    sha256: str


def download(entry: DataSetEntry, root: Path, *, force: bool = False, require_checksums: bool = False,
             fetch: Fetcher = urllib_fetch, log: Callable[[str], None] = lambda _: None) -> list[FileResult]:
    """Fetch every file of ``entry`` into ``root/<entry name>/``, verifying pinned checksums. A file whose
    checksum does not match is deleted and raises ``DataError``; files already present and matching are
    kept (``force`` fetches them again)."""
    to = root / entry.name
    to.mkdir(parents=True, exist_ok=True)
    headers = {}
    if entry.needs_token and os.environ.get("HF_TOKEN"):
        headers["Authorization"] = f"Bearer {os.environ['HF_TOKEN']}"
    if require_checksums:
        unpinned = [f.dest for f in entry.files if f.sha256 is None]
        if unpinned:
            raise DataError(f"{entry.name}: no pinned checksum for {', '.join(unpinned)}; drop --require-checksums "
                            f"to download them and record their sha256")
    results = []
    for f in entry.files:
        dest = to / f.dest
        if dest.is_file() and not force and (f.sha256 is None or sha256_file(dest) == f.sha256):
            results.append(FileResult(dest, "present", sha256_file(dest)))
            log(f"present     {dest}")
            continue
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", dir=to)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            log(f"downloading {f.url}")
            fetch(f.url, tmp, headers)
            digest = sha256_file(tmp)
            if f.sha256 is not None and digest != f.sha256:
                raise DataError(f"{entry.name}: checksum mismatch for {f.dest} from {f.url}: got sha256 {digest}, "
                                f"expected {f.sha256}; the file was not kept (a changed upstream file or a broken "
                                f"download; retry, or report it)")
            if _looks_like_html(tmp) and not f.dest.endswith((".html", ".htm")):
                raise DataError(f"{entry.name}: {f.url} returned a web page, not {f.dest} (a sign-in or confirmation "
                                f"page?){' ' + entry.notes[0] if entry.notes else ''}")
            tmp.replace(dest)
        finally:
            tmp.unlink(missing_ok=True)
        if f.extract:
            with zipfile.ZipFile(dest) as zf:
                zf.extractall(to)
        status = "downloaded" if f.sha256 else "unpinned"
        results.append(FileResult(dest, status, digest))
        log(f"{'verified   ' if f.sha256 else 'unpinned   '} {dest}  sha256 {digest}")
    with atomic_write(to / "SHA256SUMS") as sums:
        for r in results:
            sums.write(f"{r.sha256}  {r.dest.name}\n")
    return results


def _looks_like_html(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(512).lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))
