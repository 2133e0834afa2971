using TrapReplace.Runtime;

namespace TrapReplace.Experiments.Specs;

/// <summary>Machine settings of a run, outside the cell's identity.</summary>
/// <param name="Data">Where the data set is.</param>
/// <param name="ResultsDirectory">Where result files and the stage-1 cache go.</param>
/// <param name="Threads">Intra-op threads, pinned so that a rerun gives the same bits.</param>
/// <param name="Device">cpu, cuda or cuda:N.</param>
/// <param name="ChannelsLast">Run batches channels-last (faster on CPU).</param>
/// <param name="Precision">Arithmetic of the training forward passes.</param>
public sealed record RunSettings(DataLocation Data, string ResultsDirectory, int Threads, string Device, bool ChannelsLast = true,
    Precision Precision = Precision.Float32);
