// TorchSharp's default random generator and thread count are process-wide; the trainers seed the
// generator per step and the model builders seed it before drawing weights. Test classes running
// in parallel would interleave those draws and break the bit-exact reproducibility tests.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
