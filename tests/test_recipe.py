"""Recipes: parsing, strict sections, component argument binding, --set overrides."""

import json
import textwrap

import pytest

from negkit import DataSource, load_recipe
from negkit.errors import RecipeError
from negkit.recipe import parse_value, validate_recipe_file
from negkit.testing import registered_components


class TinyData(DataSource):
    name = "tiny-data"

    def __init__(self, size: int = 4, root: str = "."):
        if size < 1:
            raise ValueError("size must be >= 1")
        self.size = size

    def records(self, split="train"):
        return [{"image": None, "caption": f"caption {i}"} for i in range(self.size)]


BASE = """
[run]
name = "t"
seed = 3

[data]
source = "tiny-data"
size = 2

[mining]
k = 2

[[miners]]
name = "ngram-shuffle"
n = 2
weight = 0.5

[train]
epochs = 2
lr = 1e-4
"""


@pytest.fixture(autouse=True)
def tiny_components():
    with registered_components(datasets=[TinyData]):
        yield


def write(tmp_path, text, name="r.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def base(tmp_path, extra=""):
    return write(tmp_path, BASE + extra)


def test_valid_recipe_has_defaults_filled(tmp_path):
    recipe = load_recipe(base(tmp_path))
    assert recipe.run.seed == 3 and recipe.run_name == "t"
    assert recipe.train.epochs == 2 and recipe.train.lr == 1e-4 and recipe.train.batch_size == 256
    assert recipe.data.name == "tiny-data" and recipe.data.args == {"size": 2}
    assert recipe.miners[0].name == "ngram-shuffle" and recipe.miners[0].args == {"n": 2}
    assert recipe.miners[0].weight == 0.5
    assert recipe.mining_seed == 3
    resolved = recipe.to_dict()
    assert resolved["model"]["name"] == "ViT-B-32-quickgelu"
    assert resolved["miners"] == [{"name": "ngram-shuffle", "weight": 0.5, "n": 2}]
    json.dumps(resolved)  # what recipe.json holds must be JSON


def test_run_name_defaults_to_file_stem(tmp_path):
    path = write(tmp_path, '[data]\nsource = "tiny-data"\n', name="my-recipe.toml")
    assert load_recipe(path).run_name == "my-recipe"


def test_missing_file(tmp_path):
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(tmp_path / "nope.toml")


def test_toml_syntax_error_names_line_and_column(tmp_path):
    path = write(tmp_path, '[run]\nname = "x"\nseed = = 3\n')
    with pytest.raises(RecipeError) as err:
        load_recipe(path)
    assert str(path) in str(err.value) and "line 3" in str(err.value) and "column" in str(err.value)


def test_unknown_section_lists_allowed(tmp_path):
    with pytest.raises(RecipeError) as err:
        load_recipe(base(tmp_path, "\n[trian]\nepochs = 1\n"))
    assert "[trian]" in str(err.value) and "train" in str(err.value) and "allowed sections" in str(err.value)


def test_unknown_key_lists_allowed_keys(tmp_path):
    path = write(tmp_path, BASE.replace("lr = 1e-4", "learning_rate = 1e-4"))
    with pytest.raises(RecipeError) as err:
        load_recipe(path)
    msg = str(err.value)
    assert "[train]" in msg and "'learning_rate'" in msg and "lr" in msg and "allowed keys" in msg


def test_wrong_type(tmp_path):
    path = write(tmp_path, BASE.replace("epochs = 2", 'epochs = "two"'))
    with pytest.raises(RecipeError) as err:
        load_recipe(path)
    assert "[train]" in str(err.value) and "epochs" in str(err.value) and "'two'" in str(err.value)


def test_missing_required_key(tmp_path):
    with pytest.raises(RecipeError, match=r"\[data\].*'source'"):
        load_recipe(write(tmp_path, "[run]\nseed = 1\n"))
    with pytest.raises(RecipeError, match=r"\[miners\[0\]\].*'name'"):
        load_recipe(write(tmp_path, '[data]\nsource = "tiny-data"\n[[miners]]\nn = 1\n'))


def test_unknown_component_with_close_match(tmp_path):
    path = write(tmp_path, BASE.replace('"ngram-shuffle"', '"ngram-shufle"'))
    with pytest.raises(RecipeError) as err:
        load_recipe(path)
    msg = str(err.value)
    assert "[miners[0]]" in msg and "Did you mean 'ngram-shuffle'" in msg


def test_constructor_argument_not_taken(tmp_path):
    path = write(tmp_path, BASE.replace("n = 2", "n = 2\nsize = 3"))
    with pytest.raises(RecipeError) as err:
        load_recipe(path)
    msg = str(err.value)
    assert "[miners[0]]" in msg and "no argument 'size'" in msg and "n, attempts" in msg


def test_constructor_argument_wrong_type(tmp_path):
    path = write(tmp_path, BASE.replace("n = 2", 'n = "two"'))
    with pytest.raises(RecipeError) as err:
        load_recipe(path)
    assert "[miners[0]]" in str(err.value) and "'two'" in str(err.value) and "int" in str(err.value)


def test_weight_only_on_miners_and_losses(tmp_path):
    path = write(tmp_path, '[data]\nsource = "tiny-data"\n[[miners]]\nname = "ngram-shuffle"\nweight = -1\n')
    with pytest.raises(RecipeError, match="weight must be a non-negative number"):
        load_recipe(path)


def test_overrides(tmp_path):
    recipe = load_recipe(base(tmp_path), ["train.epochs=5", "miners.0.n=3", "data.size=7", "run.name=other",
                                          "train.max_steps=10"])
    assert recipe.train.epochs == 5 and recipe.miners[0].args["n"] == 3 and recipe.data.args["size"] == 7
    assert recipe.run_name == "other" and recipe.train.max_steps == 10
    assert recipe.overrides == ["train.epochs=5", "miners.0.n=3", "data.size=7", "run.name=other",
                                "train.max_steps=10"]


@pytest.mark.parametrize("item, needle", [
    ("train.nope=1", "[train] has no key 'nope'"),
    ("miners.3.n=1", "[[miners]] has 1 table(s)"),
    ("trainer.epochs=1", "no section [trainer]"),
    ("epochs=1", "needs a section"),
    ("train.epochs", "expected KEY=VALUE"),
])
def test_override_on_a_path_that_does_not_exist(tmp_path, item, needle):
    with pytest.raises(RecipeError) as err:
        load_recipe(base(tmp_path), [item])
    assert needle in str(err.value)


def test_parse_value():
    assert parse_value("3") == 3 and parse_value("1e-3") == 1e-3 and parse_value("true") is True
    assert parse_value("[1, 2]") == [1, 2] and parse_value('"x y"') == "x y"
    assert parse_value("plain words") == "plain words" and parse_value("ViT-B-32") == "ViT-B-32"


def test_validate_builds_light_components(tmp_path):
    path = write(tmp_path, BASE.replace("size = 2", "size = 0"))
    load_recipe(path)  # the signature fits...
    with pytest.raises(RecipeError) as err:  # ...but the constructor refuses the value
        validate_recipe_file(path)
    assert str(path) in str(err.value) and "[data]" in str(err.value) and "size must be >= 1" in str(err.value)
