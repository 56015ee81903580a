"""Question 7b: the autoencoder's mean squared reconstruction error.

Course content for simgrade (see docs/NEW_QUESTION.md): the function, its arguments, the reference,
the inputs, the points and the known mistakes. docs/MISTAKES.md explains each mistake for TAs.
"""
import torch.nn.functional as F

from reference.losses import autoencoder_loss
from simgrade.question import SCALED, CodeQuestion, Decoder, Encoder, Images, Input, Mistake, Notebook


def _terms(enc, dec, batch):
    return dec(enc(batch)) - batch


STUB = '''\
def autoencoder_loss(enc, dec, batch: torch.Tensor) -> torch.Tensor:
    """Question 7b: the autoencoder's reconstruction loss.

    Args:
        enc: the encoder, a module mapping images ``[B, 3, H, W]`` to features ``[B, d]``.
        dec: the decoder, a module mapping features ``[B, d]`` back to images ``[B, 3, H, W]``.
        batch: a float tensor of images ``[B, 3, H, W]``; do not modify it in place.

    Returns:
        The mean squared reconstruction error between ``dec(enc(batch))`` and ``batch``,
        averaged over every element (what ``F.mse_loss`` returns with its default reduction):
        a 0-dim tensor that carries gradient to the parameters of ``enc`` and ``dec``.
    """
    raise NotImplementedError("FIXME: question 7b, write autoencoder_loss")
'''

QUESTION = CodeQuestion(
    question="7b",
    function="autoencoder_loss",
    title="the autoencoder's MSE reconstruction loss",
    arguments=(Encoder("enc"), Decoder("dec"), Images("batch")),
    reference=autoencoder_loss,
    points={"value": 5, "gradient": 3, "form": 1, "inputs_untouched": 1},
    battery=(
        Input(1, 1, "float64"), Input(2, 3, "float64"), Input(5, 8, "float64"), Input(16, 4, "float64"),
        Input(64, 2, "float64"), Input(3, 5, "float32"), Input(16, 8, "float32"), Input(64, 16, "float32"),
    ),
    mistakes=(
        Mistake("sum instead of mean", "average over every element: F.mse_loss(recon, batch)",
                formula=lambda enc, dec, x: (_terms(enc, dec, x) ** 2).sum()),
        Mistake("per-sample sum", "average over pixels and channels too, not only over the batch",
                formula=lambda enc, dec, x: (_terms(enc, dec, x) ** 2).flatten(1).sum(1).mean()),
        Mistake("L1 instead of squared error", "square the differences: F.mse_loss, not F.l1_loss",
                formula=lambda enc, dec, x: _terms(enc, dec, x).abs().mean()),
        Mistake("RMSE instead of MSE", "return the mean squared error itself, without the square root",
                formula=lambda enc, dec, x: (_terms(enc, dec, x) ** 2).mean().sqrt()),
        Mistake("Huber (smooth L1) instead of MSE", "use F.mse_loss, not F.huber_loss / F.smooth_l1_loss",
                formula=lambda enc, dec, x: F.smooth_l1_loss(dec(enc(x)), x)),
        Mistake("half the MSE", "drop the factor 1/2: the homework's loss is the plain mean squared error",
                formula=lambda enc, dec, x: 0.5 * (_terms(enc, dec, x) ** 2).mean()),
        Mistake("sign flipped", "minimise the reconstruction error, not its negative",
                formula=lambda enc, dec, x: -(_terms(enc, dec, x) ** 2).mean()),
        Mistake("binary cross-entropy instead of MSE",
                "the images are in [-1, 1], not probabilities: use F.mse_loss(recon, batch)",
                formula=lambda enc, dec, x: F.binary_cross_entropy_with_logits(dec(enc(x)), x)),
        Mistake("encoder detached (only the decoder trains)",
                "let the gradient reach the encoder: no .detach() (or torch.no_grad()) around enc(batch)",
                gradient=lambda enc, dec, x: F.mse_loss(dec(enc(x).detach()), x)),
    ),
    rubric={  # points of 10 when the mistake is named, and why (docs/MISTAKES.md has the table)
        "half the MSE": 8,  # a constant 1/2: the same minimiser and nearly the same training
        "per-sample sum": 7,  # 3HW times the mean: the same minimiser, a larger step
        "RMSE instead of MSE": 7,  # a monotone function of the MSE: same minimiser, gradients in the same direction
        "sum instead of mean": 6,  # B 3HW times the mean: the same minimiser, the step far too large
        SCALED: 6,  # as above
        "Huber (smooth L1) instead of MSE": 5,  # half the MSE for small errors, L1 for large ones
        "L1 instead of squared error": 4,  # another estimator (the median): blurs differently
        "encoder detached (only the decoder trains)": 3,  # the features stay random: nothing is learned for Q7
        "binary cross-entropy instead of MSE": 2,  # targets in [-1, 1] are no probabilities
        "sign flipped": 0,  # maximises the error
        # the engine's symptoms: the right numbers in a form that breaks training
        "detached or no-grad graph": 3,  # right numbers, but nothing can train
        ".item() returns a Python number": 3,
        "NumPy value returned": 3,
        "loss.backward() called inside the loss": 6,
        "per-row losses not reduced": 6,
        "hard-coded batch size": 5,
        "breaks at batch size 1": 8,
        "inputs modified in place": 8,
        "Tensor subclass returned": 9,
    },
    stub=STUB,
    notebook=Notebook("train_autoencoder", ("batch",), assigns="loss", bound=("device",)),
)
