// One test class at a time, as in Core's tests (AssemblySettings.cs there, with the measurement): on two cores,
// anything running beside a cell's two-thread torch ops takes a core from them.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
