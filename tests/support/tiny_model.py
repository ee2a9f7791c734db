"""A tiny, random, deterministic checkpoint in detoxify's own file format.

detoxify's release checkpoints are ``{"config": <training config>,
"state_dict": <model weights>}`` (see detoxify's scripts/convert_weights.py);
the loader reads ``config.arch.args`` (passed whole to
``get_model_and_tokenizer``) and ``config.dataset.args.classes``. The
unbiased and multilingual releases have a 16-output head of which only the
first 7 (the ``classes``) are labels; the rest are identity targets. This
builder mirrors both shapes with a 2-layer, 32-wide BERT so the real loading
and scoring paths run in well under a second. The multilingual release is an
XLM-RoBERTa with a SentencePiece tokenizer; ``model="multilingual"`` builds
that shape (a 2-layer XLM-R and a SentencePiece model trained here on a few
lines of seven languages).
"""

from __future__ import annotations

import string
from pathlib import Path

ORIGINAL_CLASSES = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
UNBIASED_CLASSES = [
    "toxicity", "severe_toxicity", "obscene", "identity_attack", "insult", "threat", "sexual_explicit",
]
UNBIASED_OUTPUTS = 16  # 7 labels + 9 identity targets, as in detoxify's unbiased config

WORDS = """
the a an and or but if of to in on at for with from by about as is am are was were be been being
i me my mine you your he him his she her they them their we us our it its this that these those
not no yes do does did have has had will would can could should may might must just very really
so too also all any some more most other such only own same than then there here when where why how
what who which name names surname last first friend friends family husband wife girlfriend boyfriend
man men woman women people person proud gay lesbian bisexual queer trans non binary pronouns
black white muslim jewish christian hindu sikh atheist mexican chinese american immigrant indigenous
romani palestinian israeli vietnam deaf autistic wheelchair schizophrenia meds old young live grew up
celebrate diwali ramadan fast wear turban engaged got both hi dr use take
hello thanks thank please sorry good bad great nice cool lol ok okay game play playing server
message chat ban banned appeal mod mods moderator rule rules today tomorrow time day night week
love like hate hope think know see look want need get go going come make made say said tell told
word words long text chunk one two three four five six seven eight nine ten
""".split()


def tiny_vocab() -> list[str]:
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list(string.ascii_lowercase + string.digits) + list(string.punctuation)
    pieces = [f"##{c}" for c in string.ascii_lowercase + string.digits]
    vocab = specials + chars + pieces
    # every character is in the vocab, so any ASCII text tokenizes without [UNK]
    return vocab + [w for w in dict.fromkeys(WORDS) if w not in vocab]


#: A few chat lines per language the multilingual model was trained on, to train
#: the tiny SentencePiece model (every character seen, so nothing is <unk>).
MULTILINGUAL_LINES = [
    "hello everyone, good game today", "you are an idiot and everyone hates you", "thanks for the help mods",
    "bonjour à tous, bonne partie", "t'es vraiment nul, ferme-la", "merci pour l'aide",
    "hola a todos, buen juego", "eres un idiota, cállate ya", "gracias por la ayuda",
    "ciao a tutti, bella partita", "sei proprio un cretino, stai zitto", "grazie per l'aiuto",
    "olá a todos, bom jogo", "você é um idiota, cala a boca", "obrigado pela ajuda",
    "herkese merhaba, iyi oyun", "sen tam bir aptalsın, kapa çeneni", "yardım için teşekkürler",
    "всем привет, хорошая игра", "ты полный идиот, заткнись", "спасибо за помощь",
    string.ascii_letters + string.digits + string.punctuation,
]


def _tiny_sentencepiece(config_dir: Path) -> Path:
    import io

    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(MULTILINGUAL_LINES * 4), model_writer=model,
                                   vocab_size=300, model_type="unigram", character_coverage=1.0,
                                   hard_vocab_limit=False, minloglevel=2, num_threads=1)
    path = config_dir / "sentencepiece.bpe.model"  # the file name XLMRobertaTokenizer expects
    path.write_bytes(model.getvalue())
    return path


def _build_xlmr(dest_dir: Path, config_dir: Path, initializer_range: float, name: str) -> tuple[Path, Path]:
    import torch
    from transformers import (
        XLMRobertaConfig,
        XLMRobertaForSequenceClassification,
        XLMRobertaTokenizer,
    )

    _tiny_sentencepiece(config_dir)
    tokenizer = XLMRobertaTokenizer.from_pretrained(config_dir, model_max_length=512)  # converts the .model
    tokenizer.save_pretrained(config_dir)
    config = XLMRobertaConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=37, max_position_embeddings=514, num_labels=UNBIASED_OUTPUTS,
        initializer_range=initializer_range, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    config.save_pretrained(config_dir)
    torch.manual_seed(1234)
    net = XLMRobertaForSequenceClassification(config).eval()
    return _save(dest_dir, name, net, "multilingual", {
        "model_type": "xlm-roberta-base",  # as in detoxify's multilingual release
        "model_name": "XLMRobertaForSequenceClassification",
        "tokenizer_name": "XLMRobertaTokenizer",
        "num_classes": UNBIASED_OUTPUTS,
    }, UNBIASED_CLASSES), config_dir


def _save(dest_dir: Path, name: str, net, model: str, args: dict, classes: list[str]) -> Path:
    import torch

    checkpoint = {
        "config": {
            "name": f"tiny_{model}",
            "arch": {"type": net.config.model_type, "args": args},
            "dataset": {"type": "JigsawData", "args": {"classes": classes}},
        },
        "state_dict": net.state_dict(),
    }
    checkpoint_path = dest_dir / f"tiny_{name}.ckpt"
    torch.save(checkpoint, checkpoint_path)
    return checkpoint_path


def build_tiny_checkpoint(dest_dir: Path, model: str = "original", initializer_range: float = 0.3,
                          name: str | None = None) -> tuple[Path, Path]:
    """Write (checkpoint_path, config_dir) under dest_dir; weights are seeded.

    The default initializer_range (wider than BERT's 0.02) makes random scores
    differ visibly between texts; it also makes activations too wide for int8
    (conversion refuses it). 0.05 gives a model int8 can represent."""
    name = name or model
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    dest_dir = Path(dest_dir)
    config_dir = dest_dir / f"hf-{name}"
    config_dir.mkdir(parents=True, exist_ok=True)
    if model == "multilingual":
        return _build_xlmr(dest_dir, config_dir, initializer_range, name)
    vocab_file = config_dir / "vocab.txt"
    vocab_file.write_text("\n".join(tiny_vocab()) + "\n")

    classes = ORIGINAL_CLASSES if model == "original" else UNBIASED_CLASSES
    num_classes = 6 if model == "original" else UNBIASED_OUTPUTS
    config = BertConfig(
        vocab_size=len(tiny_vocab()),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=512,
        num_labels=num_classes,
        initializer_range=initializer_range,
    )
    config.save_pretrained(config_dir)
    BertTokenizer(str(vocab_file), do_lower_case=True, model_max_length=512).save_pretrained(config_dir)

    torch.manual_seed(1234)
    net = BertForSequenceClassification(config).eval()
    return _save(dest_dir, name, net, model, {
        "model_type": "bert-base-uncased",
        "model_name": "BertForSequenceClassification",
        "tokenizer_name": "BertTokenizer",
        "num_classes": num_classes,
    }, classes), config_dir


def build_tiny_hf_classifier(dest_dir: Path, num_labels: int = 3, initializer_range: float = 0.05) -> Path:
    """A Hugging Face sequence classifier as `save_pretrained` writes it
    (config.json, model.safetensors, tokenizer files): what a community
    brings with `modsys model install --hf-dir`."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    out = Path(dest_dir) / "hf-classifier"
    out.mkdir(parents=True, exist_ok=True)
    vocab_file = out / "vocab.txt"
    vocab_file.write_text("\n".join(tiny_vocab()) + "\n")
    BertTokenizer(str(vocab_file), do_lower_case=True, model_max_length=512).save_pretrained(out)
    config = BertConfig(vocab_size=len(tiny_vocab()), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=37, max_position_embeddings=512, num_labels=num_labels,
                        initializer_range=initializer_range)
    torch.manual_seed(99)
    BertForSequenceClassification(config).eval().save_pretrained(out)
    return out
