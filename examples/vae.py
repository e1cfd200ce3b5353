"""The keras.io variational autoencoder, on scikit-learn's 8x8 digits: a Model with no
``call``, only an encoder and a decoder used in a custom ``train_step`` with
``GradientTape``, ``optimizer.apply_gradients`` and Mean trackers; the sampling layer
draws from ``fg.random.normal`` inside the step graph.

    fusegraph train examples/vae.py
"""
import fusegraph as fg
from fusegraph import ops

LATENT_DIM = 2
EPOCHS = 10
BATCH_SIZE = 64


class Sampling(fg.layers.Layer):
    """z = z_mean + exp(0.5 * z_log_var) * epsilon, epsilon ~ N(0, 1)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = fg.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch = ops.shape(z_mean)[0]
        dim = ops.shape(z_mean)[1]
        epsilon = fg.random.normal(shape=(batch, dim), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


def build_encoder():
    inputs = fg.Input(shape=(64,), name="image")
    x = fg.layers.Dense(32, activation="relu")(inputs)
    z_mean = fg.layers.Dense(LATENT_DIM, name="z_mean")(x)
    z_log_var = fg.layers.Dense(LATENT_DIM, name="z_log_var")(x)
    z = Sampling()([z_mean, z_log_var])
    return fg.Model(inputs, [z_mean, z_log_var, z], name="encoder")


def build_decoder():
    latent_inputs = fg.Input(shape=(LATENT_DIM,), name="z")
    x = fg.layers.Dense(32, activation="relu")(latent_inputs)
    outputs = fg.layers.Dense(64, activation="sigmoid")(x)
    return fg.Model(latent_inputs, outputs, name="decoder")


class VAE(fg.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.total_loss_tracker = fg.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = fg.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = fg.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def train_step(self, data):
        with fg.GradientTape() as tape:
            z_mean, z_log_var, z = self.encoder(data)
            reconstruction = self.decoder(z)
            reconstruction_loss = ops.mean(
                ops.sum(fg.losses.binary_crossentropy(data[:, :, None], reconstruction[:, :, None]),
                        axis=1))
            kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
            total_loss = reconstruction_loss + kl_loss
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {"loss": self.total_loss_tracker.result(),
                "reconstruction_loss": self.reconstruction_loss_tracker.result(),
                "kl_loss": self.kl_loss_tracker.result()}


def build_model():
    vae = VAE(build_encoder(), build_decoder(), name="vae")
    vae.compile(optimizer=fg.optimizers.Adam())
    return vae


def load_data():
    """The digits as 64 pixel intensities in [0, 1]; the VAE needs no targets."""
    from sklearn.datasets import load_digits

    return (load_digits().data / 16.0).astype("float32"), None
