"""Hostile input: every bad value is a clear error naming the field or file before work is spent
(or, where documented, a warning), and every real config still passes."""

from __future__ import annotations

import glob
import json
import os
import time
import warnings

import numpy as np
import pytest

from sketch_rnn.config import MAX_PARAMETERS, DataConfig, ModelConfig, TrainConfig, check_batch_size
from sketch_rnn.datasets.quickdraw import check_lines, read_ndjson
from sketch_rnn.datasets.report import NoUsableDataError, Report
from sketch_rnn.datasets.svg import MAX_DEPTH, svg_to_strokes
from sketch_rnn.hparams import HParams, get_default_hparams
from sketch_rnn.strokes import (
    check_drawing,
    check_scale_factor,
    clamp,
    lerp,
    normalizing_scale_factor,
    pen_problem,
    slerp,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
REAL_CONFIGS = sorted(glob.glob(os.path.join(SHARED, "parity", "*", "model_config.json"))
                      + glob.glob(os.path.join(SHARED, "pretrained", "tf1_checkpoint_index", "*",
                                               "model_config.json"))
                      + glob.glob(os.path.join(ROOT, "checkpoints", "aaron_sheep", "model_config.json")))


# ---------------------------------------------------------------------------------------------
# 1. hparams and configs


def test_real_configs_are_found():
    # The positive test below would pass for nothing if the glob found nothing.
    assert any("parity" in p for p in REAL_CONFIGS) and any("aaron_sheep" in p for p in REAL_CONFIGS)


@pytest.mark.parametrize("path", REAL_CONFIGS, ids=lambda p: os.path.relpath(p, os.path.dirname(ROOT)))
def test_every_real_config_still_validates(path):
    hps = HParams.load(path)
    hps.model_config(), hps.data_config(), hps.train_config()


def test_magenta_defaults_and_published_examples_validate():
    hps = get_default_hparams()
    assert hps.model_config().parameter_count() == 2_186_107  # REFERENCE.md 1.1
    # README's big-data example and the kanji tutorial's decoder-only model.
    hps.parse("dec_model=hyper,dec_rnn_size=2048,enc_model=layer_norm,enc_rnn_size=512,use_recurrent_dropout=0")
    hps.parse("conditional=0,dec_rnn_size=1024,num_steps=200000")
    hps.parse("kl_weight=0,kl_weight_start=0,kl_tolerance=0,num_steps=0,random_scale_factor=0,"
              "augment_stroke_prob=0,recurrent_dropout_prob=1")


def test_saved_model_config_validates():
    with open(os.path.join(ROOT, "checkpoints", "aaron_sheep", "sketch_rnn.json"), encoding="utf-8") as f:
        ModelConfig.from_config(json.load(f)["model"])


@pytest.mark.parametrize("spec, message", [
    ("kl_weight=-1,kl_tolerance=-5", "hparam kl_weight=-1.0: must be >= 0"),
    ("kl_tolerance=-5", "hparam kl_tolerance=-5.0: must be >= 0"),
    ("kl_weight_start=-0.01", "hparam kl_weight_start=-0.01: must be >= 0"),
    ("kl_weight=nan", "hparam kl_weight=nan: expected float"),
    ("learning_rate=inf", "hparam learning_rate=inf: expected float"),
    ("grad_clip=-inf", "hparam grad_clip=-inf: expected float"),
    ("learning_rate=0", "hparam learning_rate=0.0: must be > 0"),
    ("grad_clip=0", "hparam grad_clip=0.0: must be > 0"),
    ("kl_decay_rate=1.5", r"hparam kl_decay_rate=1.5: must be in \(0, 1\]"),
    ("recurrent_dropout_prob=1.2", "hparam recurrent_dropout_prob=1.2: a keep probability"),
    ("output_dropout_prob=0", "hparam output_dropout_prob=0.0: a keep probability"),
    ("random_scale_factor=-0.1", r"hparam random_scale_factor=-0.1: must be in \[0, 1\)"),
    ("augment_stroke_prob=2", r"hparam augment_stroke_prob=2.0: must be in \[0, 1\)"),
    ("batch_size=0", "hparam batch_size=0: must be > 0"),
    ("enc_rnn_size=-4", "hparam enc_rnn_size=-4: must be > 0"),
    ("num_mixture=0", "hparam num_mixture=0: must be > 0"),
    ("save_every=0", "hparam save_every=0: must be > 0"),
    ("num_steps=-1", "hparam num_steps=-1: must be >= 0"),
    ("z_size=1e400", "hparam z_size=inf: expected int"),
])
def test_bad_hparams_name_the_field(spec, message):
    with pytest.raises(ValueError, match=message):
        HParams().parse(spec)


def test_huge_sizes_fail_before_any_weight_is_built():
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"z_size=100000000.*4\.1e\+11 parameters.*limit of 1e\+09"):
        HParams().parse("z_size=100000000")
    with pytest.raises(ValueError, match=r"dec_rnn_size=100000.*parameters"):
        ModelConfig(dec_rnn_size=100_000)
    # An unconditional model has no encoder: its sizes are not blamed.
    with pytest.raises(ValueError, match=r"^dec_rnn_size=512, num_mixture=100000000: "):
        ModelConfig(conditional=False, num_mixture=100_000_000)
    assert time.perf_counter() - start < 1.0  # arithmetic only, no allocation


def test_parameter_limit_is_inclusive_and_the_count_matches_the_model():
    from sketch_rnn.model import SketchRNN

    for kw in ({}, {"conditional": False}, {"enc_model": "layer_norm", "dec_model": "hyper"},
               {"enc_model": "hyper", "dec_model": "layer_norm"},
               {"dec_model": "hyper", "conditional": False}):
        config = ModelConfig(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2, hyper_num_units=6,
                             hyper_embedding_size=3, **kw)
        assert config.parameter_count() == SketchRNN(config).count_params(), kw
    # Just under the limit is fine (e.g. a 10,000-unit decoder-only LSTM: 4.0e8 weights).
    assert ModelConfig(conditional=False, dec_rnn_size=10_000).parameter_count() < MAX_PARAMETERS


def test_huge_batches_name_the_sizes():
    check_batch_size(ModelConfig(), DataConfig())
    with pytest.raises(ValueError, match=r"batch_size=100000000, max_seq_len=250, dec_rnn_size=512"):
        HParams().parse("batch_size=100000000")
    with pytest.raises(ValueError, match=r"hparam batch_size=100, max_seq_len=100000000"):
        HParams().parse("max_seq_len=100000000")


def test_train_config_rules_are_the_hparams_rules():
    for field in ("kl_weight", "kl_weight_start", "kl_tolerance"):
        with pytest.raises(ValueError, match=f"^{field}=-1.0: must be >= 0$"):
            TrainConfig(**{field: -1})
        with pytest.raises(ValueError, match=f"^{field}=-1.0: must be >= 0$"):
            TrainConfig.from_config({field: -1.0})
        assert getattr(TrainConfig(**{field: 0}), field) == 0.0


# ---------------------------------------------------------------------------------------------
# 2. strokes


def test_uint64_strokes_clamp_without_overflow():
    s = np.array([[2000, 5, 0], [3, 4, 1]], np.uint64)
    out = clamp(s)
    assert out.dtype == np.uint64 and out.tolist() == [[1000, 5, 0], [3, 4, 1]]
    assert clamp(np.array([[-200, 100, 1]], np.int16), 150).tolist() == [[-150, 100, 1]]
    assert clamp(np.array([[-100, 100, 1]], np.int8), 1000).tolist() == [[-100, 100, 1]]
    assert float(normalizing_scale_factor([s])) > 0


@pytest.mark.parametrize("offsets, message", [
    (np.zeros((4, 3)), "is 0: every offset is zero"),
    (np.full((4, 3), 1000.0), "is 0: every dx and dy is 1000 .no spread"),
    (np.array([[1e30, -1e30, 0], [-1e30, 1e30, 1]], np.float32), "is inf: the offsets are too large"),
    (np.full((4, 3), 1e30, np.float32), "is 0: every dx and dy is 1e\\+30"),
    (np.array([[1e300, -1e300, 0], [0, 0, 1]]), "is inf: the offsets are too large for float32"),
    (np.array([[1e39, -1e39, 0], [0, 0, 1]]), "is 7.07107e\\+38: the offsets are too large for float32"),
    (np.array([[1e-44, 0, 0], [0, 0, 1]], np.float32), "is 0: the offsets' spread is too small for float32"),
])
def test_scale_factor_says_why_it_cannot_normalise(offsets, message):
    with pytest.raises(ValueError, match=r"scale factor \(std of every dx, dy\) " + message):
        normalizing_scale_factor([offsets])


def test_scale_factor_checks():
    check_scale_factor(18.5, [1.0, -3.0])
    with pytest.raises(ValueError, match="is nan: must be > 0"):
        check_scale_factor(float("nan"))
    with pytest.raises(ValueError, match="is -1: must be > 0"):
        check_scale_factor(-1.0, [1.0])
    with pytest.raises(ValueError, match="too small for offsets up to 1e\\+38"):
        check_scale_factor(1e-5, [1e38])


def test_user_drawings_must_have_binary_pen_values():
    with pytest.raises(ValueError, match=r"^cat\.json: the pen-lift column must hold 0 or 1 \(row 1 holds 2"):
        check_drawing([[1, 2, 0], [3, 4, 2]], "cat.json")
    with pytest.raises(ValueError, match="row 0 holds 0.5"):
        check_drawing([[1, 2, 0.5]], "x")
    assert check_drawing([[1, 2, 0.5]], "x", pen_binary=False).shape == (1, 3)  # datasets opt out
    assert pen_problem(np.array([[1, 2, 0], [0, 0, 1]], np.uint64)) is None
    with pytest.raises(ValueError, match="x: values beyond float32's range"):
        check_drawing([[1e39, 0, 1]], "x")
    with pytest.raises(ValueError, match="x: contains NaN"):
        check_drawing([[np.nan, 0, 1]], "x")


# ---------------------------------------------------------------------------------------------
# 3. SVG


def _svg(body: str, head: str = "") -> str:
    return f'{head}<svg xmlns="http://www.w3.org/2000/svg">{body}</svg>'


@pytest.mark.parametrize("d, why", [
    ("M0 0 L10 10 Q zz", "'Q' at character 12 needs 4 numbers"),
    ("M 0 0 L 10 x 20", "'L' at character 6 needs 2 numbers"),
    ("M0 0 L10", "found the end"),
    ("L 1 1", "starts with 'L', not a moveto"),
    ("M 0 0 L 1 1 foo", "'foo' at character 12 is not a command"),
    ("M0 0 A 5 5 0 2 0 10 10", "'A' at character 5 needs 7 numbers"),
])
def test_malformed_path_data_is_skipped_and_named(d, why):
    body = f'<path id="bad" d="{d}" stroke="black"/><path d="M0 0 l5 5" stroke="black"/>'
    report = Report()
    assert svg_to_strokes(_svg(body), report=report).tolist() == [[0.0, 0.0, 0.0], [5.0, 5.0, 1.0]]
    (problem,) = report.problems
    assert problem.where == "<svg text>#bad" and "malformed path data" in problem.why and why in problem.why
    warned = r"<svg text>: skipped 1 broken element\(s\), the first <svg text>#bad"
    with pytest.warns(UserWarning, match=warned):
        svg_to_strokes(_svg(body))
    with pytest.raises(NoUsableDataError, match="(?s)<svg text>: nothing drawable.*malformed path data"):
        svg_to_strokes(_svg(f'<path id="bad" d="{d}" stroke="black"/>'))


@pytest.mark.parametrize("d", ["M0 0 l10 0 m0 5 l-10 0", "M0,0 10,10z", "M1e3-2.5.5.5 h1v2Z",
                               "m0 0 c1 1 2 2 3 3 s 1 1 2 2 q1 1 2 2 t 3 3 z", "M0 0 A5 5 0 1010 10",
                               "M0 0zm1 1 2 2z", "M 10,10 L 20 20,30 30"])
def test_valid_path_data_is_not_flagged(d):
    report = Report()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        svg_to_strokes(_svg(f'<path d="{d}" stroke="black" fill="none"/>'), report=report)
    assert report.n_skipped == 0


@pytest.mark.parametrize("transform", ["scale(0)", "scale(1, 0)", "matrix(1 2 2 4 0 0)"])
def test_singular_transforms_are_skipped_and_named(transform, tmp_path):
    body = (f'<g transform="{transform}"><path id="flat" d="M0 0 l10 10" stroke="black"/></g>'
            '<path d="M0 0 l1 2" stroke="black"/>')
    path = tmp_path / "flat.svg"
    path.write_text(_svg(body))
    with pytest.warns(UserWarning, match=r"flat\.svg: .*flat\.svg#flat: degenerate transform"):
        assert svg_to_strokes(path).tolist() == [[0.0, 0.0, 0.0], [1.0, 2.0, 1.0]]
    with pytest.raises(NoUsableDataError, match=r"(?s)flat\.svg: nothing drawable.*singular"):
        path.write_text(_svg(f'<path transform="{transform}" d="M0 0 l10 10" stroke="black"/>'))
        svg_to_strokes(path)


def test_regular_transforms_still_apply():
    body = ('<g transform="translate(5 5) rotate(90)"><path d="M0 0 l10 0" stroke="black"/></g>')
    np.testing.assert_allclose(svg_to_strokes(_svg(body)), [[5, 5, 0], [0, 10, 1]], atol=1e-12)


def test_deep_nesting_is_a_clear_error_not_a_recursion_error(tmp_path):
    n = 50_000
    path = tmp_path / "deep.svg"
    path.write_text(_svg("<g>" * n + '<path d="M0 0 l1 1" stroke="black"/>' + "</g>" * n))
    with pytest.raises(ValueError, match=f"deep.svg: elements nested more than {MAX_DEPTH} deep"):
        svg_to_strokes(path)
    ok = MAX_DEPTH - 2  # (the <svg> and <path> elements are a level each)
    assert len(svg_to_strokes(_svg("<g>" * ok + '<path d="M0 0 l1 1" stroke="black"/>' + "</g>" * ok))) == 2


def test_billion_laughs_fails_fast_and_cleanly():
    # Each entity is ten of the one before: 10**9 "lol"s from a few hundred bytes.
    entities = '<!ENTITY a0 "lol">' + "".join(f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10))
    bomb = _svg('<text>&a9;</text><path d="M0 0 l1 1" stroke="black"/>',
                f'<?xml version="1.0"?><!DOCTYPE svg [{entities}]>')
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"<svg text>: (not an SVG document|declares the XML entity)"):
        svg_to_strokes(bomb)
    assert time.perf_counter() - start < 5.0


def test_harmless_entities_and_doctypes_still_parse():
    # Old Illustrator exports declare their namespaces as entities.
    head = ('<?xml version="1.0"?><!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
            '"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd" [<!ENTITY ns_svg "http://www.w3.org/2000/svg">]>')
    svg = head + '<svg xmlns="&ns_svg;"><path d="M0 0 l1 1" stroke="black"/></svg>'
    assert svg_to_strokes(svg).tolist() == [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]


# ---------------------------------------------------------------------------------------------
# 4. sampling and the latent space


@pytest.fixture(scope="module")
def vae():
    from sketch_rnn.model import SketchRNN

    return SketchRNN(ModelConfig(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2))


@pytest.mark.parametrize("kwargs, message", [
    (dict(n=-3), "n=-3: must be an integer >= 1"),
    (dict(n=2.5), "n=2.5: must be an integer >= 1"),
    (dict(temperature=float("inf")), "temperature=inf: must be a finite number > 0"),
    (dict(temperature=float("nan")), "temperature=nan: must be a finite number > 0"),
    (dict(temperature=0.0), "temperature=0.0: must be a finite number > 0"),
    (dict(temperature=-1.0, greedy=True), "temperature=-1.0: must be a finite number > 0"),
    (dict(temperature=float("nan"), greedy=True), "temperature=nan"),
    (dict(convention="browser", pdf_temperature=float("inf")), "pdf_temperature=inf"),
    (dict(max_len=float("inf")), "max_len=inf: must be an integer >= 1"),
    (dict(max_len=0), "max_len=0: must be an integer >= 1"),
    (dict(z=np.zeros((0, 4))), r"z: no latent codes given"),
])
def test_sample_arguments_are_checked(vae, kwargs, message):
    from sketch_rnn.sampling import sample

    with pytest.raises(ValueError, match=message):
        sample(vae, **{"max_len": 5, **kwargs})


def test_greedy_accepts_temperature_zero(vae):
    from sketch_rnn.sampling import sample

    assert len(sample(vae, n=2, greedy=True, temperature=0, max_len=5, seed=0)) == 2


@pytest.mark.parametrize("call, message", [
    (lambda s, p: s.complete(p, n=0), "n=0: must be an integer >= 1"),
    (lambda s, p: s.complete(p, temperature=float("nan")), "temperature=nan"),
    (lambda s, p: s.complete(p, max_len=-1), "max_len=-1"),
    (lambda s, p: s.complete(np.array([[1.0, 0, 2]])), "prefix: the pen-lift column must hold 0 or 1"),
    (lambda s, p: s.encode([p, np.array([[1.0, 0, 0.5]])]), "drawing 1: the pen-lift column"),
    (lambda s, p: s.encode([p], batch_size=0), "batch_size=0: must be an integer >= 1"),
])
def test_sampler_methods_check_their_arguments(vae, call, message):
    from sketch_rnn.sampling import Sampler

    with pytest.raises(ValueError, match=message):
        call(Sampler(vae), np.array([[1.0, 0.0, 0], [0.0, 1.0, 1]]))


def test_slerp_refuses_antipodal_and_zero_vectors():
    a = np.array([1.0, -2.0, 0.5])
    with pytest.raises(ValueError, match="slerp: p0 and p1 are opposite"):
        slerp(a, -a, 0.5)
    with pytest.raises(ValueError, match="slerp: p0 and p1 include a zero vector"):
        slerp(np.zeros(3), a, 0.5)
    np.testing.assert_allclose(slerp(a, 2 * a, 0.5), 1.5 * a)  # parallel: still lerp
    # Nearly opposite codes still have their one great circle: the midpoint is on it, not near 0.
    mid = slerp(a, -a + [0, 0, 1e-3], 0.5)
    assert np.isfinite(mid).all() and np.linalg.norm(mid) > 2.0 > np.linalg.norm(lerp(a, -a, 0.5)) + 1
    # Latent codes are float32: there the cosine of opposite codes rounds to -1 or just above it.
    for b in (-a, -3 * a, -np.ones(3)):
        z = np.abs(b).astype(np.float32)
        with pytest.raises(ValueError, match="slerp: p0 and p1 are opposite"):
            slerp(z, -z, 0.5)
        with pytest.raises(ValueError, match="slerp: p0 and p1 are opposite"):
            slerp(z, np.float32(-3) * z, 0.5)


# ---------------------------------------------------------------------------------------------
# 5. ndjson: bad lines are counted and said


GOOD = '{"word": "cat", "drawing": [[[0, 10, 20], [0, 5, 0]]]}'


def _ndjson(tmp_path, lines: list[str], name: str = "cats.ndjson"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_read_ndjson_without_report_warns_with_file_count_and_first_line(tmp_path):
    path = _ndjson(tmp_path, [GOOD, "{not json", GOOD, '{"drawing": []}'])
    with pytest.warns(UserWarning, match=r"cats\.ndjson: skipped 2 bad line\(s\) of 4; the first bad one is "
                                         r"cats\.ndjson:2 \(malformed JSON\)"):
        assert len(list(read_ndjson(path))) == 2
    report = Report()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a caller's report lists them: no warning
        assert len(list(read_ndjson(path, report))) == 2
    assert [p.where for p in report.problems] == ["cats.ndjson:2", "cats.ndjson:4"]


def test_all_bad_lines_name_the_file(tmp_path):
    path = _ndjson(tmp_path, ["{oops", "[1, 2]"])
    with pytest.raises(NoUsableDataError, match=r"cats\.ndjson: no usable drawing in 2 line\(s\); the "
                                                r"first bad one is cats\.ndjson:1 \(malformed JSON\)"):
        list(read_ndjson(path))
    with pytest.raises(NoUsableDataError, match=r"empty\.ndjson: no drawings"):
        check_lines(tmp_path / "empty.ndjson", Report(), kept=0)


def test_evaluation_counts_and_reports_bad_lines(tmp_path, vae):
    from sketch_rnn.evaluation import evaluate, load_drawings

    path = _ndjson(tmp_path, [GOOD, "{not json", GOOD, GOOD.replace("10", '"x"')])
    report = Report()
    with pytest.warns(UserWarning, match=r"cats\.ndjson: skipped 2 bad line\(s\) of 4; .*cats\.ndjson:2"):
        drawings, names = load_drawings(path, report=report)
    assert len(drawings) == 2 and names == ["cats.ndjson:1", "cats.ndjson:3"]
    assert report.n_skipped == 2 and report.converted == 2
    with pytest.warns(UserWarning, match="skipped 2 bad line"):
        result = evaluate(vae, path, scale=10.0)
    assert result.n == 2 and result.skipped == 2
    assert result.summary()["skipped"] == 2 and "2 bad lines skipped" in result.format_table()
    with pytest.raises(NoUsableDataError, match=r"bad\.ndjson: no usable drawing"):
        load_drawings(_ndjson(tmp_path, ["{", "}"], "bad.ndjson"))


def test_evaluation_names_the_file_when_the_scale_is_unusable(tmp_path, vae):
    from sketch_rnn.evaluation import evaluate

    path = _ndjson(tmp_path, ['{"drawing": [[[5], [5]]]}'] * 3, "dots.ndjson")
    with pytest.raises(ValueError, match=r"dots\.ndjson: the model has no scale_factor, and the drawings' "
                                         r"own scale factor .* is 0: every offset is zero"):
        evaluate(vae, path)
