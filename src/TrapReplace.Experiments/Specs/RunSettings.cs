using TrapReplace.Runtime;
using TrapReplace.Training;

namespace TrapReplace.Experiments.Specs;

/// <summary>Machine settings of a run, outside the cell's identity.</summary>
/// <param name="Data">Where the data set is.</param>
/// <param name="ResultsDirectory">Where result files and the stage-1 cache go.</param>
/// <param name="Threads">Intra-op threads, pinned so that a rerun gives the same bits.</param>
/// <param name="Device">Where the stages run.</param>
/// <param name="ChannelsLast">Run batches channels-last (faster on CPU).</param>
/// <param name="Precision">Arithmetic of the training forward passes.</param>
public sealed record RunSettings(DataLocation Data, string ResultsDirectory, int Threads, ComputeDevice Device, bool ChannelsLast = true,
    Precision Precision = Precision.Float32)
{
    /// <summary>Places <paramref name="options"/> on this run's device, threads and layout and seeds it.</summary>
    internal T Apply<T>(T options, int modelSeed, int dataSeed)
        where T : TrainingRuntime => Place(options, modelSeed, dataSeed, Threads, Device, ChannelsLast);

    /// <summary>Sets the runtime part every training options class shares.</summary>
    internal static T Place<T>(T options, int modelSeed, int dataSeed, int threads, ComputeDevice device, bool channelsLast)
        where T : TrainingRuntime
    {
        options.ModelSeed = modelSeed;
        options.DataSeed = dataSeed;
        options.Threads = threads;
        options.Device = device;
        options.ChannelsLast = channelsLast;
        return options;
    }
}
