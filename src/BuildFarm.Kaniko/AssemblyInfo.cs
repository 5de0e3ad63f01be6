// BuildFarm.Kaniko holds the pure Kaniko logic of the farm.
