"""reference/models.py: the course architecture, its shapes, normalisation and the CPU presets."""
import pytest
import torch
from torch import nn

from reference.models import Decoder, Encoder, hidden_channels, n_params


def test_course_encoder_layers():
    enc = Encoder()
    convs = [m for m in enc.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(3, 32), (32, 64), (64, 128), (128, 256), (256, 512), (512, 128)]
    assert all(c.kernel_size == (4, 4) and c.stride == (2, 2) and c.padding == (1, 1) for c in convs)
    assert sum(isinstance(m, nn.ReLU) for m in enc.modules()) == 6
    linear = [m for m in enc.modules() if isinstance(m, nn.Linear)]
    assert len(linear) == 1 and linear[0].in_features == linear[0].out_features == 128


def test_course_encoder_shapes_and_normalisation():
    x = torch.randn(5, 3, 64, 64)
    z = Encoder()(x)
    assert z.shape == (5, 128)
    assert torch.allclose(z.norm(dim=1), torch.ones(5), atol=1e-5)
    raw = Encoder(normalize=False)(x)
    assert not torch.allclose(raw.norm(dim=1), torch.ones(5), atol=1e-3)


def test_course_decoder_mirrors_encoder():
    dec = Decoder()
    convs = [m for m in dec.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(128, 512), (512, 256), (256, 128), (128, 64), (64, 32), (32, 3)]
    out = dec(torch.randn(4, 128))
    assert out.shape == (4, 3, 64, 64)
    assert isinstance(list(dec.net)[-1], nn.ConvTranspose2d)   # linear output: no activation after the last layer
    with torch.no_grad():
        list(dec.net)[-1].bias.fill_(-5.0)
    assert dec(torch.randn(4, 128)).max() < 0                 # not clipped by a ReLU: outputs can be negative


@pytest.mark.parametrize("size,channels", [(32, None), (16, (64, 128, 256)), (16, (8, 8, 16))])
def test_small_presets(size, channels):
    enc = Encoder(32, image_size=size, channels=channels)
    dec = Decoder(32, image_size=size, channels=channels)
    x = torch.randn(3, 3, size, size)
    assert enc(x).shape == (3, 32) and dec(enc(x)).shape == x.shape
    assert n_params(enc) < n_params(Encoder())


def test_hidden_channels():
    assert hidden_channels(64) == [32, 64, 128, 256, 512]
    assert hidden_channels(32) == [64, 128, 256, 512]
    assert hidden_channels(64, width=0.25) == [8, 16, 32, 64, 128]
    with pytest.raises(ValueError):
        hidden_channels(48)
    with pytest.raises(ValueError):
        hidden_channels(16, channels=(1, 2))
