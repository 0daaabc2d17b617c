"""Tests of the tiny multimodal language model and its low-rank pieces (mmlib.mllm)."""

import math

import pytest
import torch

from mmlib import mllm
from mmlib.data import load
from mllm_helpers import random_model


@pytest.fixture(scope="module")
def small_task():
    return mllm.build_task(load("synthetic", n_samples=120, seed=0), hint=0.7, seed=0)


# -- pure low-rank pieces -------------------------------------------------------------------------

def test_lora_delta_hand_made():
    x = torch.tensor([[1.0, 2.0]])
    a = torch.tensor([[1.0, 1.0]])          # r = 1, k = 2
    b = torch.tensor([[2.0], [0.0], [1.0]])  # d = 3
    assert torch.allclose(mllm.lora_delta(x, a, b, 0.5), torch.tensor([[3.0, 0.0, 1.5]]))
    assert torch.equal(mllm.lora_delta(x, a, torch.zeros(3, 1), 1.0), torch.zeros(1, 3))


def test_modality_low_rank_uses_each_tokens_own_matrix():
    x = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])
    ids = torch.tensor([[0, 1, 1]])
    a = torch.stack([torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 3.0]])])  # (M=2, r=1, k=2)
    codes = mllm.modality_low_rank(x, ids, a)
    assert torch.allclose(codes, torch.tensor([[[2.0], [3.0], [3.0]]]))
    same = mllm.modality_low_rank(x, torch.zeros_like(ids), a)  # one modality = plain LoRA codes
    assert torch.allclose(same, (x @ a[0].T))


def test_modality_low_rank_errors():
    x = torch.zeros(1, 3, 2)
    with pytest.raises(ValueError, match="one \\(r, k\\) matrix"):
        mllm.modality_low_rank(x, torch.zeros(1, 3, dtype=torch.long), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="must match"):
        mllm.modality_low_rank(x, torch.zeros(1, 2, dtype=torch.long), torch.zeros(2, 1, 2))
    with pytest.raises(ValueError, match="lie in"):
        mllm.modality_low_rank(x, torch.full((1, 3), 2), torch.zeros(2, 1, 2))


def test_visual_to_text_attention_hand_made():
    # the authors' direction (GeWu-Lab/MokA lora.py, class Linear): the visual code queries the text codes
    codes = torch.tensor([[[1.0, 0.0], [2.0, 0.0], [0.0, 2.0]]])  # visual v = (1, 0), text t1 = (2, 0), t2 = (0, 2)
    ids = torch.tensor([[mllm.VISUAL, mllm.TEXT, mllm.TEXT]])
    # scores v.t1 / sqrt(2) = 1.41421, v.t2 / sqrt(2) = 0; softmax = [e^1.41421, 1] / (e^1.41421 + 1)
    # = [4.11325, 1] / 5.11325 = [0.80443, 0.19557]; gathered = 0.80443 (2, 0) + 0.19557 (0, 2) = (1.60886, 0.39114)
    out = mllm.visual_to_text_attention(codes, ids)
    assert torch.allclose(out[0, 0], torch.tensor([2.60886, 0.39114]), atol=1e-4)  # v + 1 * gathered
    assert torch.equal(out[0, 1:], codes[0, 1:])  # text codes unchanged
    half = mllm.visual_to_text_attention(codes, ids, weight=0.5)  # their blc_weight: v + 0.5 * gathered
    assert torch.allclose(half[0, 0], torch.tensor([1.80443, 0.19557]), atol=1e-4)
    only_t1 = mllm.visual_to_text_attention(codes, ids, question=torch.tensor([[False, True, False]]))
    assert torch.allclose(only_t1[0, 0], torch.tensor([3.0, 0.0]))  # one key: softmax = [1], v + t1


def test_visual_to_text_attention_edge_cases():
    codes = torch.randn(2, 4, 3)
    visual_only = mllm.visual_to_text_attention(codes, torch.full((2, 4), mllm.VISUAL))  # no question: unchanged
    assert torch.equal(visual_only, codes) and not torch.isnan(visual_only).any()
    ids = torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0]])
    no_question = torch.zeros(2, 4, dtype=torch.bool)
    assert torch.equal(mllm.visual_to_text_attention(codes, ids, no_question), codes)
    assert torch.equal(mllm.visual_to_text_attention(codes, ids, weight=0.0), codes)
    with pytest.raises(ValueError, match="only mark text"):
        mllm.visual_to_text_attention(codes, ids, torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="must match"):
        mllm.visual_to_text_attention(codes, ids, torch.ones(2, 3, dtype=torch.bool))


def test_reverse_direction_updates_text_only_from_visual_codes():
    codes = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]])
    ids = torch.tensor([[mllm.VISUAL, mllm.VISUAL, mllm.TEXT]])
    out = mllm.text_to_modality_attention(codes, ids)
    assert torch.equal(out[0, :2], codes[0, :2])  # visual codes unchanged
    # text scores (5, 5) / sqrt(2) tie: softmax = [0.5, 0.5], adds the visual codes' mean (0.5, 0.5)
    assert torch.allclose(out[0, 2], torch.tensor([5.5, 5.5]), atol=1e-6)


def test_reverse_direction_without_visual_tokens_is_identity_and_finite():
    codes = torch.randn(2, 4, 3)
    ids = torch.full((2, 4), mllm.TEXT)
    out = mllm.text_to_modality_attention(codes, ids)
    assert torch.equal(out, codes) and not torch.isnan(out).any()


# -- data -----------------------------------------------------------------------------------------

def test_pretraining_text_answer_follows_the_hint_word():
    seq = mllm.pretraining_text(200, 6, seed=0)
    vocab = mllm.Vocabulary(6)
    words = seq[:, 1] - 6
    pointed = torch.where(words % 2 == 0, seq[:, 3], seq[:, 4])
    assert torch.equal(pointed, seq[:, 6])
    assert (seq[:, 3] != seq[:, 4]).all() and (seq[:, 0] == vocab.special("<bos>")).all()


def test_task_hint_is_right_at_about_the_requested_rate(small_task):
    rate = small_task.hint_right.float().mean().item()
    assert 0.55 < rate < 0.85
    options = small_task.text[:, 3:5]
    assert ((options == small_task.labels[:, None]).sum(1) == 1).all()  # the true class is exactly one option
    assert small_task.visual.shape[1:] == (16, 16)


def test_bad_task_options_are_clear_errors():
    data = load("synthetic", n_samples=60)
    with pytest.raises(KeyError, match="valid"):
        mllm.build_task(data, modality="smell")
    with pytest.raises(ValueError, match="hint"):
        mllm.build_task(data, hint=1.5)
    with pytest.raises(KeyError, match="valid"):
        mllm.Vocabulary(6).special("<eos>")


# -- models ---------------------------------------------------------------------------------------

def test_pretraining_learns_the_hint_rule():
    lm, losses = mllm.pretrain(mllm.Vocabulary(6), steps=150, seed=0)
    assert losses[-1] < losses[0] - 1.0
    seq = mllm.pretraining_text(300, 6, seed=99)
    with torch.no_grad():
        answer = lm(seq[:, :-1])[:, -1, :6].argmax(1)
    assert (answer == seq[:, -1]).float().mean() > 0.9


def test_adapters_start_as_the_frozen_model_and_only_adapters_and_projector_train(small_task):
    lm = mllm.TinyLM(mllm.Vocabulary(6).size)
    plain = mllm.TinyMLLM(lm, 16, 16, adapter="none")
    for kind in ("lora", "moka"):
        torch.manual_seed(0)
        model = mllm.TinyMLLM(__import__("copy").deepcopy(lm), 16, 16, adapter=kind)
        model.projector.load_state_dict(plain.projector.state_dict())
        model.visual_position.data.copy_(plain.visual_position.data)
        with torch.no_grad():
            assert torch.allclose(model(small_task.visual[:5], small_task.text[:5]),
                                  plain(small_task.visual[:5], small_task.text[:5]), atol=1e-5)  # B = 0
        trainable = {n.split(".")[-1] for n, p in model.named_parameters() if p.requires_grad}
        assert trainable == {"a", "b", "weight", "bias", "visual_position"}
        assert all(not p.requires_grad for n, p in model.named_parameters() if ".base." in n)
    with pytest.raises(KeyError, match="valid"):
        mllm.TinyMLLM(lm, 16, 16, adapter="prefix")


def _random_moka(direction, seed=0):
    torch.manual_seed(seed)
    model = mllm.TinyMLLM(mllm.TinyLM(mllm.Vocabulary(6).size), 16, 16, adapter="moka", direction=direction)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".b"):
                p.normal_()  # B = 0 at the start would hide every path through the cross-attention
    return model.eval()


def test_moka_stays_causal_from_the_questions_end(small_task):
    visual, prompt = small_task.visual[:4], small_task.text[:4]
    answer = torch.randint(0, 6, (4, 1))
    other = (answer + 1) % 6
    model = _random_moka("visual_queries_text")
    p, q = visual.shape[1], prompt.shape[1]
    with torch.no_grad():
        alone = model.sequence_logits(visual, prompt)
        with_answer = model.sequence_logits(visual, torch.cat([prompt, answer], 1), question_length=q)
        with_other = model.sequence_logits(visual, torch.cat([prompt, other], 1), question_length=q)
        # the token after the question never reaches an earlier position: the answer's logits stay put
        assert torch.allclose(with_answer[:, :p + q], alone, atol=1e-5)
        assert torch.allclose(with_other[:, :p + q], alone, atol=1e-5)
        assert torch.allclose(model(visual, prompt), alone[:, -1])
        # counted as question, the same token would leak into the image tokens and so into the answer
        leaky = model.sequence_logits(visual, torch.cat([prompt, answer], 1), question_length=q + 1)
        assert not torch.allclose(leaky[:, p + q - 1], alone[:, -1], atol=1e-4)
        # inside the prompt the image tokens read the whole question (documented): a later word changes them
        changed = prompt.clone()
        changed[:, 1] = small_task.vocab.word((prompt[:, 1] - small_task.vocab.n_classes + 1) % mllm.N_WORDS)
        assert not torch.allclose(model.sequence_logits(visual, changed)[:, :p], alone[:, :p], atol=1e-4)


def test_reverse_direction_is_causal_everywhere(small_task):
    visual, prompt = small_task.visual[:4], small_task.text[:4]
    model = _random_moka("text_queries_visual")
    p = visual.shape[1]
    changed = prompt.clone()
    changed[:, 3] = (prompt[:, 3] + 1) % 6
    with torch.no_grad():
        before, after = model.sequence_logits(visual, prompt), model.sequence_logits(visual, changed)
    assert torch.allclose(before[:, :p + 3], after[:, :p + 3], atol=1e-5)
    assert not torch.allclose(before[:, p + 3:], after[:, p + 3:], atol=1e-4)


def test_bad_direction_and_question_length_are_clear_errors(small_task):
    lm = mllm.TinyLM(mllm.Vocabulary(6).size)
    with pytest.raises(KeyError, match="valid"):
        mllm.TinyMLLM(lm, 16, 16, adapter="moka", direction="sideways")
    model = mllm.TinyMLLM(lm, 16, 16, adapter="moka")
    with pytest.raises(ValueError, match="question_length"):
        model.sequence_logits(small_task.visual[:2], small_task.text[:2], question_length=7)


def test_moka_has_one_a_per_modality_and_a_shared_b():
    lm = mllm.TinyLM(mllm.Vocabulary(6).size)
    model = mllm.TinyMLLM(lm, 16, 16, adapter="moka", rank=4)
    adapter = model.lm.blocks[0].attention.q
    assert adapter.a.shape == (2, 4, 32) and adapter.b.shape == (32, 4)


def test_adapt_and_evaluate_report_finite_scores(small_task):
    lm, _ = mllm.pretrain(mllm.Vocabulary(6), steps=30)
    result = mllm.adapt(lm, small_task, "moka", epochs=2, batch_size=32)
    expected = {"acc", "acc_no_visual", "acc_text_path", "acc_visual_path", "visual_attention", "follows_hint",
                "acc_hint_right", "acc_hint_wrong"}
    assert expected <= set(result.scores)
    assert all(0.0 <= v <= 1.0 for k, v in result.scores.items() if not math.isnan(v))
    assert result.model.context.adapted is None and result.model.context.modality_ids is None
    with pytest.raises(KeyError, match="valid"):
        mllm.evaluate(result.model, small_task, "holdout")
    assert result.model.lm.blocks[0].attention.q.direction == "visual_queries_text"  # the authors' default
    reverse = mllm.adapt(lm, small_task, "moka", epochs=1, batch_size=32, direction="text_queries_visual", weight=0.5)
    assert reverse.model.lm.blocks[1].attention.o.direction == "text_queries_visual"
    assert reverse.model.lm.blocks[1].attention.o.weight == 0.5


def test_compare_adapters_is_one_seeded_row_per_adapter_and_seed(small_task):
    lm, _ = mllm.pretrain(mllm.Vocabulary(6), steps=10)
    table = mllm.compare_adapters(lm, small_task, ["lora", "moka"], seeds=[0, 1], dataset="toy", epochs=1,
                                  batch_size=32)
    assert list(zip(table["method"], table["seed"])) == [("lora", 0), ("lora", 1), ("moka", 0), ("moka", 1)]
    assert set(table["dataset"]) == {"toy"} and (table["trainable"] > 0).all()
    again = mllm.adapt(lm, small_task, "moka", epochs=1, batch_size=32, seed=1).scores
    assert table.iloc[3]["acc"] == again["acc"]  # each row is the seeded adapt run


# -- references: the hint's option, two-option probabilities, the rational combiner ---------------

def test_hinted_option_and_first_option_probability_hand_made():
    vocab = mllm.Vocabulary(6)
    text = mllm.prompts(vocab, torch.tensor([2, 5]), torch.tensor([4, 1]), torch.tensor([0, 3]))  # even: first
    assert mllm.hint_points_first(text, vocab).tolist() == [True, False]
    assert mllm.hinted_option(text, vocab).tolist() == [2, 1]
    logits = torch.zeros(2, vocab.size)
    logits[0, 2], logits[0, 4] = math.log(3.0), 0.0  # options 2 and 4: softmax = [3/4, 1/4]
    logits[1, 0] = 100.0  # a class that is not an option is ignored: options 5, 1 tie
    assert torch.allclose(mllm.first_option_probability(logits, text), torch.tensor([0.75, 0.5]))


def test_combine_with_hint_is_bayes_rule():
    p = torch.tensor([0.5, 0.75, 0.75, 0.2])
    first = torch.tensor([True, True, False, True])
    out = mllm.combine_with_hint(p, first, 0.75)
    # 0.5: odds 1 * 3 = 3 -> 0.75; 0.75: odds 3 * 3 = 9 -> 0.9; against the hint 3 / 3 = 1 -> 0.5;
    # 0.2: odds 0.25 * 3 = 0.75 -> 3/7
    assert torch.allclose(out, torch.tensor([0.75, 0.9, 0.5, 3 / 7]))
    assert torch.allclose(mllm.combine_with_hint(p, first, 0.5), p)  # an uninformative hint changes nothing
    assert torch.equal(mllm.combine_with_hint(torch.tensor([0.3]), torch.tensor([True]), 1.0), torch.tensor([1.0]))
    with pytest.raises(ValueError, match="reliability"):
        mllm.combine_with_hint(p, first, 1.5)
    with pytest.raises(ValueError, match="must match"):
        mllm.combine_with_hint(p, first[:2], 0.7)


def test_combiner_scores_follow_the_hint_when_the_image_is_unsure(small_task):
    n = len(small_task.splits["test"])
    unsure = mllm.combiner_scores(torch.full((n,), 0.5), small_task, 0.7)
    assert unsure["follows_hint"] == 1.0  # a tie is broken by the hint alone
    idx = small_task.splits["test"]
    assert unsure["acc"] == pytest.approx(small_task.hint_right[idx].float().mean().item())
    truth = (small_task.text[idx, 3] == small_task.labels[idx]).float()
    sure = mllm.combiner_scores(0.01 + 0.98 * truth, small_task, 0.7)  # a confident, right image overrules it
    assert sure["acc"] == 1.0 and sure["acc_hint_wrong"] == 1.0


def test_compare_adapters_probes_and_label(small_task):
    lm, _ = mllm.pretrain(mllm.Vocabulary(6), steps=10)
    table = mllm.compare_adapters(lm, small_task, ["lora"], seeds=[0], epochs=1, batch_size=32,
                                  probes={"again": small_task}, label="lora_r2", rank=2)
    assert table["method"].tolist() == ["lora_r2"]
    assert table.iloc[0]["again_acc"] == table.iloc[0]["acc"]  # the same test split, the same model
    assert table.iloc[0]["again_follows_hint"] == table.iloc[0]["follows_hint"]


# -- masking and the modality-contribution measures -----------------------------------------------

def test_group_positions_partition_the_sequence():
    groups = mllm.group_positions(3, 6)
    assert groups["image"].tolist() == [True] * 3 + [False] * 6
    assert groups["hint"].nonzero().flatten().tolist() == [3 + mllm.HINT_INDEX]
    assert torch.equal(groups["image"].long() + groups["hint"].long() + groups["question"].long(), torch.ones(9).long())
    with pytest.raises(ValueError, match="prompt longer"):
        mllm.group_positions(3, 1)


@pytest.mark.parametrize("adapter", ["lora", "moka", "none"])
def test_masked_logits_keep_all_is_the_forward_and_hiding_the_image_is_removing_it(small_task, adapter):
    model = random_model(small_task, adapter)
    visual, text = small_task.visual[:20], small_task.text[:20]
    with torch.no_grad():
        full = model(visual, text)
        assert torch.allclose(model.masked_logits(visual, text, mllm.GROUPS), full, atol=1e-6)
        # the text keeps its positions whether the image is hidden or absent, so the two agree
        assert torch.allclose(model.masked_logits(visual, text, {"hint"}), model(None, text), atol=1e-5)
        assert not torch.allclose(model.masked_logits(visual, text, {"hint"}), full, atol=1e-3)


@pytest.mark.parametrize("adapter", ["lora", "moka"])
def test_a_hidden_hint_cannot_change_the_answer(small_task, adapter):
    model = random_model(small_task, adapter)
    visual, text = small_task.visual[:20], small_task.text[:20]
    other = text.clone()
    other[:, mllm.HINT_INDEX] = small_task.vocab.word((other[:, mllm.HINT_INDEX] - small_task.vocab.n_classes + 1) % 8)
    with torch.no_grad():
        assert torch.allclose(model.masked_logits(visual, text, {"image"}), model.masked_logits(visual, other, {"image"}),
                              atol=1e-6)  # MokA's visual codes no longer read the hidden hint either
        assert not torch.allclose(model(visual, text), model(visual, other), atol=1e-3)  # control: visible, it acts
    with pytest.raises(KeyError, match="valid"):
        model.masked_logits(visual, text, {"audio"})
    with pytest.raises(ValueError, match="needs the visual tokens"):
        model.masked_logits(None, text, {"hint"})


def test_answer_value_hand_made():
    logits = torch.tensor([[2.0, 0.0, 9.0], [0.0, 1.0, 0.0]])
    labels = torch.tensor([0, 1])
    assert mllm.answer_value(logits, labels, "accuracy", n_classes=2) == 1.0  # token 2 is no class
    assert mllm.answer_value(logits, labels, "accuracy") == 0.5
    expected = (torch.log_softmax(logits, 1)[0, 0] + torch.log_softmax(logits, 1)[1, 1]) / 2
    assert mllm.answer_value(logits, labels, "log_prob") == pytest.approx(expected.item())
    with pytest.raises(KeyError, match="valid"):
        mllm.answer_value(logits, labels, "f1")


def test_token_group_shapley_hand_made_games():
    labels = torch.tensor([0, 1, 0, 1])
    right = torch.nn.functional.one_hot(labels, 2).float() * 5
    wrong = right.flip(1)
    only_image = lambda keep: right if "image" in keep else wrong  # noqa: E731
    phi = mllm.token_group_shapley(only_image, labels)
    assert phi == {"image": pytest.approx(1.0), "hint": pytest.approx(0.0)}
    both_needed = lambda keep: right if keep == {"image", "hint"} else wrong  # noqa: E731
    phi = mllm.token_group_shapley(both_needed, labels)
    assert phi == {"image": pytest.approx(0.5), "hint": pytest.approx(0.5)}
    lp = mllm.token_group_shapley(only_image, labels, value="log_prob")
    gain = mllm.answer_value(right, labels, "log_prob") - mllm.answer_value(wrong, labels, "log_prob")
    assert lp["image"] == pytest.approx(gain) and lp["hint"] == pytest.approx(0.0)
    with pytest.raises(KeyError, match="valid"):
        mllm.token_group_shapley(only_image, labels, value="auc")


def test_modality_contributions_are_efficient_on_the_tiny_mllm(small_task):
    model = random_model(small_task, "moka")
    idx = small_task.splits["test"]
    visual, text, labels = small_task.visual[idx], small_task.text[idx], small_task.labels[idx]
    for value in mllm.VALUES:
        phi = mllm.modality_contributions(model, small_task, "test", value)
        assert set(phi) == set(mllm.GROUPS)
        with torch.no_grad():
            v_all = mllm.answer_value(model(visual, text), labels, value, small_task.vocab.n_classes)
            v_none = mllm.answer_value(model.masked_logits(visual, text, ()), labels, value, small_task.vocab.n_classes)
        assert sum(phi.values()) == pytest.approx(v_all - v_none, abs=1e-6)
    with pytest.raises(KeyError, match="valid"):
        mllm.modality_contributions(model, small_task, "dev")


def test_attention_shares_sum_to_one_and_match_the_visual_mass(small_task):
    model = random_model(small_task, "lora", layers=3)
    visual, text = small_task.visual[:20], small_task.text[:20]
    shares = mllm.attention_shares(model, visual, text)
    assert set(shares) == {"image", "hint", "question"} and shares["image"].shape == (3,)
    assert torch.allclose(sum(shares.values()), torch.ones(3), atol=1e-5)
    with torch.no_grad():
        model(visual, text)
    assert torch.allclose(shares["image"], model.visual_attention_mass(visual), atol=1e-6)


def test_attention_shares_of_uniform_attention_are_the_token_counts(small_task):
    model = random_model(small_task, "none")
    with torch.no_grad():
        for block in model.lm.blocks:  # q = 0: every score 0, the answer position attends uniformly
            block.attention.q.weight.zero_()
            block.attention.q.bias.zero_()
    visual, text = small_task.visual[:5], small_task.text[:5]
    p, s = visual.shape[1], visual.shape[1] + text.shape[1]
    shares = mllm.attention_shares(model, visual, text)
    for name, expected in (("image", p / s), ("hint", 1 / s), ("question", (s - p - 1) / s)):
        assert torch.allclose(shares[name], torch.full((2,), expected), atol=1e-6)


def test_pretrain_takes_the_number_of_layers():
    lm, _ = mllm.pretrain(mllm.Vocabulary(6), steps=2, layers=4)
    assert len(lm.blocks) == 4
    assert len(mllm.pretrain(mllm.Vocabulary(6), steps=2)[0].blocks) == 2  # the default is unchanged
    with pytest.raises(ValueError, match="positive"):
        mllm.pretrain(mllm.Vocabulary(6), steps=2, layers=0)
