"""A tiny, random, deterministic checkpoint in detoxify's own file format.

detoxify's release checkpoints are ``{"config": <training config>,
"state_dict": <model weights>}`` (see detoxify's scripts/convert_weights.py);
the loader reads ``config.arch.args`` (passed whole to
``get_model_and_tokenizer``) and ``config.dataset.args.classes``. The
unbiased and multilingual releases have a 16-output head of which only the
first 7 (the ``classes``) are labels; the rest are identity targets. This
builder mirrors both shapes with a 2-layer, 32-wide BERT so the real loading
and scoring paths run in well under a second.
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
    checkpoint = {
        "config": {
            "name": f"tiny_{model}",
            "arch": {
                "type": "BERT",
                "args": {
                    "model_type": "bert-base-uncased",
                    "model_name": "BertForSequenceClassification",
                    "tokenizer_name": "BertTokenizer",
                    "num_classes": num_classes,
                },
            },
            "dataset": {"type": "JigsawData", "args": {"classes": classes}},
        },
        "state_dict": net.state_dict(),
    }
    checkpoint_path = dest_dir / f"tiny_{name}.ckpt"
    torch.save(checkpoint, checkpoint_path)
    return checkpoint_path, config_dir
