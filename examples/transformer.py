"""Transformer encoder and decoder layers written as Keras users write them (subclassed
layers with components made in ``__init__`` and used in ``call``), used inside a
functional sequence-to-sequence model over token embeddings.

    fusegraph dump examples/transformer.py
"""
import fusegraph as fg

VOCAB = 1000
SEQ_LEN = 16
EMBED_DIM = 32
DENSE_DIM = 64
NUM_HEADS = 2


class TransformerEncoder(fg.layers.Layer):
    def __init__(self, embed_dim, dense_dim, num_heads, **kwargs):
        super().__init__(**kwargs)
        self.embed_dim = embed_dim
        self.dense_dim = dense_dim
        self.num_heads = num_heads
        self.attention = fg.layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.dense_proj = fg.Sequential([
            fg.layers.Dense(dense_dim, activation="relu"),
            fg.layers.Dense(embed_dim),
        ])
        self.layernorm_1 = fg.layers.LayerNormalization()
        self.layernorm_2 = fg.layers.LayerNormalization()

    def call(self, inputs, mask=None):
        attention_output = self.attention(inputs, inputs, attention_mask=mask)
        proj_input = self.layernorm_1(inputs + attention_output)
        proj_output = self.dense_proj(proj_input)
        return self.layernorm_2(proj_input + proj_output)


class TransformerDecoder(fg.layers.Layer):
    def __init__(self, embed_dim, dense_dim, num_heads, **kwargs):
        super().__init__(**kwargs)
        self.attention_1 = fg.layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.attention_2 = fg.layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.dense_proj = fg.Sequential([
            fg.layers.Dense(dense_dim, activation="relu"),
            fg.layers.Dense(embed_dim),
        ])
        self.layernorm_1 = fg.layers.LayerNormalization()
        self.layernorm_2 = fg.layers.LayerNormalization()
        self.layernorm_3 = fg.layers.LayerNormalization()

    def call(self, inputs, encoder_outputs):
        attention_output_1 = self.attention_1(query=inputs, value=inputs, key=inputs,
                                              use_causal_mask=True)
        out_1 = self.layernorm_1(inputs + attention_output_1)
        attention_output_2 = self.attention_2(query=out_1, value=encoder_outputs,
                                              key=encoder_outputs)
        out_2 = self.layernorm_2(out_1 + attention_output_2)
        proj_output = self.dense_proj(out_2)
        return self.layernorm_3(out_2 + proj_output)


def build_encoder_model():
    inputs = fg.Input(shape=(SEQ_LEN,), dtype="int32", name="tokens")
    x = fg.layers.Embedding(VOCAB, EMBED_DIM)(inputs)
    x = TransformerEncoder(EMBED_DIM, DENSE_DIM, NUM_HEADS)(x)
    x = fg.layers.GlobalMaxPooling1D()(x)
    outputs = fg.layers.Dense(2, activation="softmax")(x)
    return fg.Model(inputs, outputs, name="transformer_classifier")


def build_model():
    encoder_inputs = fg.Input(shape=(SEQ_LEN,), dtype="int32", name="source")
    decoder_inputs = fg.Input(shape=(SEQ_LEN,), dtype="int32", name="target")
    encoded = TransformerEncoder(EMBED_DIM, DENSE_DIM, NUM_HEADS)(
        fg.layers.Embedding(VOCAB, EMBED_DIM)(encoder_inputs))
    x = fg.layers.Embedding(VOCAB, EMBED_DIM)(decoder_inputs)
    x = TransformerDecoder(EMBED_DIM, DENSE_DIM, NUM_HEADS)(x, encoded)
    outputs = fg.layers.Dense(VOCAB, activation="softmax")(x)
    return fg.Model([encoder_inputs, decoder_inputs], outputs, name="transformer")
