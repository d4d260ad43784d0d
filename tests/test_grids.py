"""Sample grids: the layout that `gankit sample`, training and the server share."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gankit.grids import make_grid
from gankit.images import grid_image


def test_images_are_tiled_row_by_row_with_black_padding() -> None:
    images = np.stack([np.full((2, 3, 1), 10 * (i + 1), np.uint8) for i in range(5)])
    grid = make_grid(images, nrow=3, padding=1)
    assert grid.shape == (2 * (2 + 1) + 1, 3 * (3 + 1) + 1, 1)
    # image i sits at row i // 3, column i % 3
    for i in range(5):
        y, x = (i // 3) * 3 + 1, (i % 3) * 4 + 1
        assert (grid[y : y + 2, x : x + 3] == 10 * (i + 1)).all(), i
    assert (grid[0] == 0).all() and (grid[:, 0] == 0).all()  # the border
    assert (grid[4:6, 9:12] == 0).all()  # the empty sixth cell
    assert make_grid(images).shape[:2] == (2 * 4 + 2, 3 * 5 + 2)  # 3 per row by default


def test_one_image_is_drawn_as_it_is() -> None:
    image = np.arange(12, dtype=np.uint8).reshape(1, 3, 4, 1)
    assert np.array_equal(make_grid(image), image[0])


@pytest.mark.parametrize(
    ("images", "match"),
    [
        (np.zeros((3, 4, 4), np.uint8), r"expected images \[n, H, W, C\], got shape \(3, 4, 4\)"),
        (np.zeros((0, 4, 4, 1), np.uint8), "0 images"),
    ],
)
def test_bad_input_is_refused(images: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_grid(images)
    with pytest.raises(ValueError, match="nrow must be at least 1, got 0"):
        make_grid(np.zeros((2, 4, 4, 1), np.uint8), nrow=0)


def test_grayscale_grids_are_grayscale_pictures_and_colour_ones_rgb() -> None:
    gray = grid_image(torch.full((4, 1, 5, 5), -1.0))
    assert (gray.mode, gray.size) == ("L", (2 * 7 + 2, 2 * 7 + 2))
    colour = grid_image(torch.ones(4, 3, 5, 5))
    assert colour.mode == "RGB"
    assert np.asarray(colour)[3, 3].tolist() == [255, 255, 255]
    assert np.asarray(colour)[0, 0].tolist() == [0, 0, 0]
