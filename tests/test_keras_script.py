"""A Keras user's everyday script (tests/scripts/keras_everyday.py) runs on fusegraph with
only its import changed, and its models learn."""
import os
import re

import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "scripts", "keras_everyday.py")


@pytest.mark.slow
def test_the_everyday_keras_script_runs_with_only_the_import_changed(tmp_path, monkeypatch):
    source = open(SCRIPT).read()
    assert source.count("import keras  #") == 1 and "fusegraph" not in source.split('"""')[2]
    ported = re.sub(r"^import keras  #.*$", "import fusegraph as keras", source, flags=re.M)
    ported = ported.replace("from keras import layers", "from fusegraph import layers")
    monkeypatch.setenv("EVERYDAY_OUT", str(tmp_path))
    namespace = {"__name__": "everyday"}
    exec(compile(ported, SCRIPT, "exec"), namespace)
    results = namespace["RESULTS"]
    assert results["text"]["accuracy"] > 0.9 and results["text"]["auc"] > 0.9
    assert results["digits"]["accuracy"] > 0.8
    assert results["series"]["mae"] < 0.2
    assert sorted(os.listdir(tmp_path)) == ["bidirectional.keras", "text.csv"]  # backup gone
