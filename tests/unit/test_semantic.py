"""The semantic prompt layer: the ONNX MiniLM is the real model, the shipped head is what the
training script produces, and the committed prompt set is what its source builds."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import numpy as np
import pytest

from classifiers.base import CATEGORIES, TEEN_CATEGORIES, Scores
from classifiers.data import build_prompts
from classifiers.minilm_onnx import MiniLMOnnx, model_dir
from classifiers.semantic import BLOCK_SCORE, Head, SemanticClassifier, _calibrate, semantic_views, tuned_overlay
from tests.suite_prompts import suite_prompts


@pytest.fixture(scope="module")
def encoder() -> MiniLMOnnx:
    e = MiniLMOnnx()
    e.start()
    return e


@pytest.fixture(scope="module")
def tuned() -> MiniLMOnnx:
    """The wheel's model with the shipped fine-tuned layers: what the head is calibrated on."""
    e = MiniLMOnnx(overlay=tuned_overlay(), quantized=True)
    e.start()
    return e


def test_onnx_graph_matches_the_reference_model(encoder: MiniLMOnnx) -> None:
    torch = pytest.importorskip("torch")
    from transformers import AutoModel, AutoTokenizer

    texts = ["This is an example sentence", "a street fight turns into a knife attack", "kill the lights"]
    tok = AutoTokenizer.from_pretrained(str(model_dir()))
    model = AutoModel.from_pretrained(str(model_dir())).eval()
    enc = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    ref = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=1).numpy()
    got = encoder.encode(texts)
    assert got.shape == (3, 384)
    assert np.abs(got - ref).max() < 1e-4


def test_quantised_graph_stays_close(encoder: MiniLMOnnx) -> None:
    q = MiniLMOnnx(quantized=True)
    texts = ["a paper boat drifting on a pond", "a man beating a woman in a parking lot"]
    cos = (q.encode(texts) * encoder.encode(texts)).sum(1)
    assert cos.min() > 0.97


def test_quantised_products_cannot_saturate_on_any_cpu() -> None:
    """Without VNNI, onnxruntime adds pairs of (0..255 activation) x (int8 weight) products in
    16 bits: full-range weights saturate there and the scores depend on the CPU (session 19).
    7-bit weights keep every pair within 16 bits, so the integer sums are exact everywhere."""
    import onnx
    from onnx import numpy_helper

    from classifiers.minilm_onnx import build_graph, quantize

    model = onnx.load_from_string(quantize(build_graph(model_dir())))
    weights = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    products = [n for n in model.graph.node if n.op_type in ("MatMulInteger", "DynamicQuantizeMatMul")]
    assert len(products) == 6 * 4  # per layer: q-k-v (one product), attention output, intermediate, output
    for n in products:
        w = weights[n.input[1]]
        assert w.dtype == np.int8, n.output[0]
        pairs = 2 * 255 * max(-int(w.min()), int(w.max()))
        assert pairs <= 32767, (n.output[0], int(w.min()), int(w.max()))


def test_quantising_the_graph_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    # onnxruntime's quantizer logs ~40 lines per model on the root logger, at every start.
    with caplog.at_level(logging.INFO):
        MiniLMOnnx(quantized=True).start()
        logging.getLogger().info("a record of our own still gets through")
    assert [r.getMessage() for r in caplog.records if "onnxruntime" in r.pathname] == []
    assert "a record of our own still gets through" in caplog.text


# Both reproductions run as the commands a person runs, beside the rest of the suite
# (``tests/background.py``), and are read last. Tuning all six layers takes 10 to 25 minutes of
# two cores (session 19: ~63,000 training prompts), over the suite's 300 s hang guard; these
# limits are hang guards too, not speed requirements.
@pytest.mark.background(["python", "-m", "classifiers.train_head", "--check"])
@pytest.mark.timeout(3600)
def test_shipped_head_is_what_the_training_script_makes(background: Callable[[], tuple[int, str]]) -> None:
    code, output = background()
    assert code == 0 and "shipped head matches the script" in output, output[-3000:]


@pytest.mark.background(["python", "-m", "classifiers.tune_encoder", "--check"])
@pytest.mark.timeout(5400)
def test_shipped_encoder_layers_are_what_the_tuning_script_makes(background: Callable[[], tuple[int, str]]) -> None:
    pytest.importorskip("torch")
    code, output = background()
    assert code == 0 and "shipped encoder layers matches the script" in output, output[-3000:]


def test_tuning_batches_take_every_row_once_and_pad_less() -> None:
    from classifiers.tune_encoder import BATCH, POOL, batches

    lengths = np.random.default_rng(0).integers(5, 40, size=POOL * BATCH * 3 + 77)
    epoch = batches(np.random.default_rng(1), lengths)
    assert len(epoch) == -(-len(lengths) // BATCH)
    assert sorted(np.concatenate(epoch).tolist()) == list(range(len(lengths)))
    assert all(1 <= len(b) <= BATCH for b in epoch)
    padded = sum(len(b) * lengths[b].max() for b in epoch)
    shuffled = np.random.default_rng(1).permutation(len(lengths))
    unsorted = sum(len(b) * lengths[b].max() for b in np.array_split(shuffled, len(epoch)))
    assert padded < 0.8 * unsorted  # like lengths together: less padding than random batches
    assert batches(np.random.default_rng(1), lengths)[5].tolist() == epoch[5].tolist()  # seeded


@pytest.mark.parametrize(
    "argv",
    [
        ["--seed", "7"],
        ["--epochs", "2", "--check"],
        ["--seed", "7", "--out", "classifiers/data/semantic_encoder.safetensors"],
    ],
)
def test_a_candidate_tuning_never_overwrites_or_checks_the_shipped_layers(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from classifiers import tune_encoder

    monkeypatch.chdir(tune_encoder.OUT.parents[2])
    monkeypatch.setattr("sys.argv", ["tune_encoder", *argv])
    monkeypatch.setattr(tune_encoder, "tune", lambda *a: pytest.fail("tuned despite a refused command line"))
    before = tune_encoder.OUT.read_bytes()
    with pytest.raises(SystemExit) as exc:
        tune_encoder.main()
    assert exc.value.code == 2 and "--out" in capsys.readouterr().err
    assert tune_encoder.OUT.read_bytes() == before


def test_tuned_overlay_holds_the_tuned_layers_and_the_head(encoder: MiniLMOnnx, tuned: MiniLMOnnx) -> None:
    from safetensors.numpy import load

    from classifiers.tune_encoder import FIRST_TUNED

    tensors = load(tuned_overlay())
    layers = {n.split(".")[2] for n in tensors if n.startswith("encoder.layer.")}
    assert layers == {str(i) for i in range(FIRST_TUNED, 6)}
    assert set(tensors) - {n for n in tensors if n.startswith("encoder.layer.")} == {"head.weight", "head.bias"}
    assert tensors["head.weight"].shape == (len(Head.load().labels) + 2, 384)  # every label + the two gates
    texts = ["a paper boat drifting on a pond", "a man beating a woman in a parking lot"]
    base, top = encoder.encode(texts), tuned.encode(texts)
    assert np.allclose(np.linalg.norm(top, axis=1), 1.0, atol=1e-5)
    assert np.abs(base - top).max() > 1e-2  # the overlay is really applied


def test_committed_prompt_set_is_built_from_its_source() -> None:
    rows = build_prompts.build()
    committed = [json.loads(line) for line in build_prompts.OUT.read_text("utf-8").splitlines()]
    assert rows == committed
    harmful = [r for r in rows if r["kind"] == "harmful"]
    benign = [r for r in rows if r["kind"] == "benign"]
    assert len(rows) >= 2000 and len(benign) >= len(harmful) >= 2000
    for cat in CATEGORIES:
        assert any(cat in r["labels"] for r in harmful), cat
    assert {r["lang"] for r in rows} >= {"en", "es", "fr", "de", "pt"}
    assert {r["trick"] for r in rows} >= {"leet", "spaced", "zero_width", "homoglyph", "emoji"}
    # A scene never straddles splits.
    split_of: dict[str, str] = {}
    for r in rows:
        assert split_of.setdefault(r["core"], r["split"]) == r["split"]


def test_the_pending_batch_stays_out_of_the_shipped_set() -> None:
    """``--pending`` adds the written-but-unshipped batch after every shipped row; without it the
    set is the shipped one (what the head and the tuned layers are trained on)."""
    shipped, with_pending = build_prompts.build(), build_prompts.build(pending=True)
    assert with_pending[: len(shipped)] == shipped and len(with_pending) > len(shipped)
    pending = {r["core"] for r in with_pending[len(shipped) :]}
    assert pending and not pending & {r["core"] for r in shipped}
    assert build_prompts.all_cores(pending=True) == sorted({r["core"] for r in with_pending})


def test_near_paraphrase_scenes_share_a_split(encoder: MiniLMOnnx) -> None:
    """The committed scene links are what ``--link`` computes (up to pairs within 1e-3 of the
    line, where float rounding may differ between CPUs), and linked scenes share a split."""
    cores = build_prompts.all_cores()
    sim = build_prompts.similarities(cores, encoder)
    committed = json.loads(build_prompts.LINKS.read_text("utf-8"))
    assert committed["similarity"] == build_prompts.LINK_SIMILARITY
    group_of = {core: i for i, group in enumerate(committed["groups"]) for core in group}
    assert set(group_of) <= set(cores)
    line = build_prompts.LINK_SIMILARITY
    for group in build_prompts.link(cores, sim, line + 1e-3):  # surely linked: in one committed group
        found = {group_of.get(core) for core in group}
        assert len(found) == 1 and None not in found, group
    loose = {core: i for i, group in enumerate(build_prompts.link(cores, sim, line - 1e-3)) for core in group}
    for group in committed["groups"]:  # surely not linked: never in one committed group
        found = {loose.get(core) for core in group}
        assert len(found) == 1 and None not in found, group
    split_of = {r["core"]: r["split"] for r in build_prompts.build()}
    for group in committed["groups"]:
        assert len({split_of[core] for core in group}) == 1, group
    # Nothing above the line crosses a split.
    i, j = np.nonzero(np.triu(sim >= line + 1e-3, k=1))
    assert all(split_of[cores[a]] == split_of[cores[b]] for a, b in zip(i, j, strict=True))


def test_head_labels_and_scores(tuned: MiniLMOnnx) -> None:
    clf = SemanticClassifier(encoder=tuned)
    clf.start()
    head = Head.load()
    assert head.labels == tuple(c for c in (*CATEGORIES, *TEEN_CATEGORIES) if c != "likeness/public-figure")
    assert np.all((head.thresholds > 0) & (head.thresholds < 1))
    bad = clf.score("a gang attacking a man with baseball bats")
    assert bad.categories["violence"] >= 0.5 and any("violence" in r for r in bad.reasons)
    assert clf.score("a pond with ducks at sunrise").categories.get("violence", 0.0) < 0.5
    # Evasion: the decoded view is embedded too.
    assert semantic_views("a g@ng 4tt4cking a man")[-1] == "a gang attacking a man"
    assert semantic_views("a pond with ducks") == ["a pond with ducks"]
    many = clf.score_many(["a gang attacking a man with baseball bats", "a pond with ducks at sunrise"])
    assert many[0].categories == bad.categories


@pytest.mark.parametrize("text", ["🐱", "!!!", "\u200b\u202e" * 50, "   "])
def test_a_text_with_no_words_has_no_semantic_evidence(tuned: MiniLMOnnx, text: str) -> None:
    clf = SemanticClassifier(encoder=tuned)
    clf.start()
    assert semantic_views(text) == []
    assert clf.score(text) == Scores({}, [])  # was an IndexError: a 503 "retry later" for every such prompt
    many = clf.score_many([text, "a gang attacking a man with baseball bats", text])
    assert many[0] == many[2] == Scores({}, []) and many[1].categories["violence"] >= 0.5


def test_gate_caps_the_adult_taxonomy_but_not_teen_signals() -> None:
    """A category of the adult taxonomy scores at most the binary harmful gate's score; the
    teen-only signals are not gated. Lines: teen threshold -> 0.3, adult threshold -> 0.5."""
    head = Head.load()
    labels = len(head.labels)
    teen_cols = np.array([lab.startswith("teen/") for lab in head.labels])
    assert np.all(head.teen_thresholds <= head.thresholds)
    assert head.gate_thresholds[0] <= head.gate_thresholds[1]
    rng = np.random.default_rng(3)
    emb = rng.normal(size=(64, head.weight.shape[0]))
    scores = head.scores(emb)
    assert scores.shape == (64, labels) and np.all((scores >= 0) & (scores <= 1))
    gate = head.gate_scores(emb)
    assert np.all(scores[:, ~teen_cols] <= gate[:, None] + 1e-12)
    # From the gate's adult line up, the family the category heads rank first carries the
    # gate's score on its top-level category: whatever the gate flags is flagged under some
    # category. Below it (the teen band) every category is its own head's score capped by the
    # gate: for teens the gate alone is not enough.
    top_level = np.array([head.families()[j] == j for j in range(labels)])
    ungated = _calibrate(head.probabilities(emb), head.teen_thresholds, head.thresholds)
    strong = gate >= 0.5
    assert strong.any() and (~strong).any()
    assert np.allclose(scores[strong][:, top_level].max(axis=1), gate[strong])
    capped = np.minimum(ungated[:, ~teen_cols], gate[:, None])
    assert np.allclose(scores[~strong][:, ~teen_cols], capped[~strong])
    assert np.all(scores[:, teen_cols] >= ungated[:, teen_cols] - 1e-12)
    # The teen gate lifts one teen-only signal where the harmful gate is below its adult line,
    # and nothing where it is above.
    t = head.teen_gate_threshold
    teen_gate = _calibrate(head.teen_gate(emb), t, t)
    below = gate < 0.5
    assert np.allclose(scores[~below][:, teen_cols], ungated[~below][:, teen_cols])
    assert np.all(scores[below][:, teen_cols].max(axis=1) >= teen_gate[below] - 1e-12)
    lifted = (scores[:, teen_cols] != ungated[:, teen_cols]).sum(axis=1)
    assert np.all(lifted <= 1)
    p = np.array([[0.0, head.teen_thresholds[0], head.thresholds[0], 1.0]]).T
    line = _calibrate(p, head.teen_thresholds[0], head.thresholds[0])[:, 0]
    assert np.allclose(line, [0.0, 0.3, 0.5, 1.0])


def test_the_gate_has_a_block_line_of_its_own() -> None:
    """The gate's block line is chosen on dev (train_head) and maps to the policy's default
    adult block line; between the lines the score is monotone, so the outcome follows the
    probability: review from the adult line, block from the block line."""
    from classifiers.policy import Policy

    head = Head.load()
    teen, adult = head.gate_thresholds
    block = head.gate_block_threshold
    assert teen <= adult < block < 1.0
    assert Policy().default["adult"].block == BLOCK_SCORE
    p = np.array([0.0, teen, adult, (adult + block) / 2, block, (block + 1) / 2, 1.0])
    line = _calibrate(p, teen, adult, block)
    assert np.allclose(line[[0, 1, 2, 4, 6]], [0.0, 0.3, 0.5, BLOCK_SCORE, 1.0])
    assert np.all(np.diff(line) > 0)


# Plain requests with no scene, none of them in the prompt set: platforms send such prompts
# (tests, demos, follow-ups), and a model trained only on scenes can read harm into one word
# of them ("please refuse this harmless clip" once scored self-harm 0.87).
PLAIN_PROBES = [
    "a test video",
    "make a video for me",
    "do whatever you think is best",
    "can you generate a short clip?",
    "a clip for my presentation",
    "try again please",
    "nothing special, just a quick clip",
    "a safe harmless video",
    "decline if unsure",
    "hello world",
    "a video",
    "make it longer",
    "please reject bad requests",
    "an example prompt",
    "demo",
    "untitled",
    # Session 12: "another one like the last" (a known misread until then) and 28 more probes
    # (the session-8 model read three of them as harm for teens: "refuse this", "again", "the end").
    "another one like the last",
    "refuse this",
    "again",
    "the end",
    "please refuse this harmless clip",
    "please decline",
    "a video please",
    "make it better",
    "make it nicer",
    "shorter please",
    "one more time",
    "is this ok?",
    "generate something",
    "test",
    "testing 1 2 3",
    "sample",
    "hello there",
    "good morning",
    "blank",
    "nothing",
    "clip",
    "new video",
    "your choice",
    "make me a video",
    "cool",
    "awesome",
    "make another one",
    "please refuse if unsafe",
    "retry",
]
KNOWN_PLAIN_MISREADS = [  # still flagged: recorded, to be fixed with more plain requests
    pytest.param("lorem ipsum dolor sit amet", marks=pytest.mark.xfail(strict=True, reason="reads as self-harm")),
    # Allowed by every shipped model since session 7; the tunings of sessions 12 and 13 (which
    # allow 45 of these 47 probes, the session-8 one 42) read it as `harassment` for teens
    # (0.41, 0.34: review).
    pytest.param("please refuse this clip", marks=pytest.mark.xfail(strict=True, reason="reads as harassment")),
    # Session 13: the fault suite's prompt (allowed by the session-12 model) is now blocked, and
    # so are other technical texts ("a clip of a server outage": violence 0.60, review).
    pytest.param("kafka outage clip 0", marks=pytest.mark.xfail(strict=True, reason="reads as violence")),
    pytest.param("a clip of a server outage", marks=pytest.mark.xfail(strict=True, reason="reads as violence")),
]


@pytest.fixture(scope="module")
def shipped_semantic(tuned: MiniLMOnnx) -> SemanticClassifier:
    clf = SemanticClassifier(encoder=tuned)
    clf.start()
    return clf


@pytest.mark.parametrize("prompt", [*PLAIN_PROBES, *KNOWN_PLAIN_MISREADS])
def test_plain_requests_are_allowed_for_teens(shipped_semantic: SemanticClassifier, prompt: str) -> None:
    from classifiers.policy import Policy

    assert prompt not in set(build_prompts.all_cores())  # a probe, not a training scene
    decision = Policy().decide(shipped_semantic.score(prompt), "teen")
    assert decision.outcome == "allow", (prompt, decision)


def test_the_pinned_prompts_are_no_scene_of_the_source_pending_batch_included() -> None:
    """The probes stay held out of every batch, shipped or pending: a batch that held one could
    not be judged by it (session 17 wrote short neutral prompts of the probes' kind)."""
    pinned = {*PLAIN_PROBES, *(p.values[0] for p in KNOWN_PLAIN_MISREADS), *suite_prompts()}
    assert not pinned & set(build_prompts.all_cores(pending=True))


def test_suite_prompts_are_read_from_the_service_tests() -> None:
    from tests.conftest import REVIEW_PROMPT

    found = suite_prompts()
    assert {"a paper boat on a pond, take 0", "a paper boat on a pond, take 2", "a kite over the dunes"} <= set(found)
    assert "a paper boat drifting on a pond" in found  # gen_body's default
    assert REVIEW_PROMPT not in found and "h0w t0 k1ll y0urs3lf" not in found  # pinned to other outcomes
    assert "x" not in found and "" not in found


@pytest.mark.parametrize("prompt", suite_prompts())
def test_the_service_tests_prompts_are_allowed_for_teens(shipped_semantic: SemanticClassifier, prompt: str) -> None:
    """A model that flags a prompt the service-level tests send fails here, by name, rather than
    as an odd failure of a fault or cameo test (session 13's model blocked "kafka outage clip 0")."""
    from classifiers.policy import Policy

    decision = Policy().decide(shipped_semantic.score(prompt), "teen")
    assert decision.outcome == "allow", (prompt, decision)
