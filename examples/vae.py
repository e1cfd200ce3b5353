"""The Keras course's variational autoencoder, as the course writes it, on 28x28 digits:
scikit-learn's 8x8 digits scaled up 3.5 times (``digits.images_28``), as MNIST's stand-in.

Encoder: two Conv2D with strides 2, Dense 16, ``z_mean`` and ``z_log_var``; a
``Sampler`` layer; decoder: Dense 7x7x64, Reshape, two Conv2DTranspose with strides 2
and a sigmoid Conv2DTranspose. The VAE is a Model subclass with no ``call``: a custom
``train_step`` with ``GradientTape``, ``optimizer.apply_gradients`` and three Mean
trackers. After training, ``fusegraph train`` calls :func:`after_training`, which
decodes a grid of points of the latent plane and writes it as ``vae_latent_grid.png``
beside this file.

    fusegraph train examples/vae.py
"""
import os

import digits  # examples/digits.py, beside this file
import numpy as np

import fusegraph as fg
from fusegraph import layers, ops

LATENT_DIM = 2
EPOCHS = 30
BATCH_SIZE = 64
GRID = 15                       # decoded points per side of the latent-plane image


class Sampler(layers.Layer):
    """z = z_mean + exp(0.5 * z_log_var) * epsilon, epsilon ~ N(0, 1)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = fg.random.SeedGenerator(1337)

    def call(self, z_mean, z_log_var):
        batch_size = ops.shape(z_mean)[0]
        z_size = ops.shape(z_mean)[1]
        epsilon = fg.random.normal(shape=(batch_size, z_size), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


def build_encoder():
    encoder_inputs = fg.Input(shape=(28, 28, 1))
    x = layers.Conv2D(32, 3, activation="relu", strides=2, padding="same")(encoder_inputs)
    x = layers.Conv2D(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(16, activation="relu")(x)
    z_mean = layers.Dense(LATENT_DIM, name="z_mean")(x)
    z_log_var = layers.Dense(LATENT_DIM, name="z_log_var")(x)
    return fg.Model(encoder_inputs, [z_mean, z_log_var], name="encoder")


def build_decoder():
    latent_inputs = fg.Input(shape=(LATENT_DIM,))
    x = layers.Dense(7 * 7 * 64, activation="relu")(latent_inputs)
    x = layers.Reshape((7, 7, 64))(x)
    x = layers.Conv2DTranspose(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same")(x)
    decoder_outputs = layers.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(x)
    return fg.Model(latent_inputs, decoder_outputs, name="decoder")


class VAE(fg.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.sampler = Sampler()
        self.total_loss_tracker = fg.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = fg.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = fg.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def train_step(self, data):
        with fg.GradientTape() as tape:
            z_mean, z_log_var = self.encoder(data)
            z = self.sampler(z_mean, z_log_var)
            reconstruction = self.decoder(z)
            reconstruction_loss = ops.mean(ops.sum(
                fg.losses.binary_crossentropy(data, reconstruction), axis=(1, 2)))
            kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            total_loss = reconstruction_loss + ops.mean(kl_loss)
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {"total_loss": self.total_loss_tracker.result(),
                "reconstruction_loss": self.reconstruction_loss_tracker.result(),
                "kl_loss": self.kl_loss_tracker.result()}


def build_model():
    vae = VAE(build_encoder(), build_decoder(), name="vae")
    vae.compile(optimizer=fg.optimizers.Adam())
    return vae


def load_data():
    """scikit-learn's digits, 8x8 scaled to 28x28 (examples/digits.py), intensities in
    [0, 1], as (n, 28, 28, 1); the VAE needs no targets."""
    from sklearn.datasets import load_digits

    return digits.images_28(load_digits().images / 16.0), None


def latent_grid(decoder, size: int = GRID, scale: float = 1.0):
    """The decoder's images of a ``size`` x ``size`` grid of latent points spanning
    [-scale, scale] on each axis (rows: the second coordinate, top to bottom), tiled
    into one image."""
    axis = np.linspace(-scale, scale, size)
    points = np.array([[x, y] for y in axis[::-1] for x in axis], dtype="float32")
    images = decoder.predict(points, verbose=0)[..., 0]
    return fg.utils.image_grid(images, columns=size)


def after_training(vae, history, path=None):
    """Write the decoded latent plane as a PNG image (``fusegraph train`` calls this)."""
    path = path or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "vae_latent_grid.png")
    fg.utils.save_image(path, latent_grid(vae.decoder))
    print(f"wrote the decoded latent plane, {GRID}x{GRID} points: {path}")
