"""Training one model on the reference and on numba_cpu: the comparison the layer test
modules share."""
import numpy as np

import fusegraph as fg


def trains_alike_on_both_backends(build, x, y, loss, epochs=4, batch_size=16, lr=1e-2):
    """Build a model with ``build()`` (after clearing the session and seeding) for each
    backend, fit it on ``x``, ``y`` with Adam; assert the loss fell and that numba_cpu's
    losses and weights equal the reference's within float32 tolerances. Returns the
    reference's losses."""
    results = {}
    for backend in ("reference", "numba_cpu"):
        fg.utils.clear_session()
        fg.utils.set_random_seed(0)
        model = build()
        model.compile(optimizer=fg.optimizers.Adam(lr), loss=loss, backend=backend)
        history = model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False,
                            verbose=0)
        results[backend] = (history.history["loss"], model.get_weights())
    losses, weights = results["reference"]
    assert losses[-1] < losses[0]
    np.testing.assert_allclose(results["numba_cpu"][0], losses, rtol=1e-4)
    for a, b in zip(results["numba_cpu"][1], weights):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
    return losses
