using Microsoft.Extensions.Options;

namespace TrapReplace.Training;

/// <summary>
/// Stage 1 ("bait and trap") settings. Defaults are the reference's CIFAR-10/GTSRB schedule.
/// Bindable from configuration (section <c>TrapReplace:Trap</c>); validated as a whole by
/// <see cref="Validate"/>, which names every bad value in one error.
/// </summary>
public sealed class TrapTrainerOptions
{
    /// <summary>Training epochs.</summary>
    /// <value>200.</value>
    public int Epochs { get; set; } = 200;

    /// <summary>Mini-batch size (the final incomplete batch is dropped, as the reference).</summary>
    /// <value>256.</value>
    public int BatchSize { get; set; } = 256;

    /// <summary>Optimizer over stem, head and decoder together.</summary>
    /// <value><see cref="OptimizerKind.Adam"/>.</value>
    public OptimizerKind Optimizer { get; set; } = OptimizerKind.Adam;

    /// <summary>Initial learning rate, annealed by a cosine schedule over all epochs.</summary>
    /// <value>1e-3.</value>
    public double LearningRate { get; set; } = 1e-3;

    /// <summary>Weight decay (L2, as PyTorch's Adam/SGD apply it).</summary>
    /// <value>5e-4.</value>
    public double WeightDecay { get; set; } = 5e-4;

    /// <summary>Momentum for SGD (ignored by Adam).</summary>
    /// <value>0.9.</value>
    public double Momentum { get; set; } = 0.9;

    /// <summary>lambda: weight of the reconstruction MSE. 0 trains without the trap (plain training).</summary>
    /// <value>10.</value>
    public double ReconstructionWeight { get; set; } = 10;

    /// <summary>lambda2: weight of the total variation of the reconstruction.</summary>
    /// <value>1.</value>
    public double TotalVariationWeight { get; set; } = 1;

    /// <summary>Random-crop padding of the augmentation (0 = no crop).</summary>
    /// <value>4.</value>
    public int CropPadding { get; set; } = 4;

    /// <summary>Random horizontal flips.</summary>
    /// <value>true.</value>
    public bool HorizontalFlip { get; set; } = true;

    /// <summary>Seed of the weight initialisation.</summary>
    /// <value>0.</value>
    public int ModelSeed { get; set; }

    /// <summary>Seed of shuffling and augmentation.</summary>
    /// <value>0.</value>
    public int DataSeed { get; set; }

    /// <summary>Device: <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>.</summary>
    /// <value><c>cpu</c>.</value>
    public string Device { get; set; } = "cpu";

    /// <summary>Intra-op threads to pin (0 leaves TorchSharp's default). Pin it when you need bit-identical resumes.</summary>
    /// <value>0.</value>
    public int Threads { get; set; }

    /// <summary>
    /// Run the network on channels-last batches (<see cref="Runtime.MemoryLayout"/>): faster on CPU, equal up to
    /// floating-point summation order. False gives the standard (N, C, H, W) layout of runs made before this option.
    /// </summary>
    /// <value>true.</value>
    public bool ChannelsLast { get; set; } = true;

    /// <summary>The forward pass's arithmetic: <see cref="Runtime.Precision.BFloat16"/> runs it under libtorch's CPU
    /// bfloat16 autocast (<see cref="Runtime.MixedPrecision"/>); weights, optimizer state and losses stay float32.
    /// <value>Default <see cref="Runtime.Precision.Float32"/>.</value></summary>
    public Runtime.Precision Precision { get; set; } = Runtime.Precision.Float32;

    /// <summary>Folder for the per-epoch checkpoint (<c>trap.ckpt</c>); null disables checkpoints.</summary>
    /// <value>null.</value>
    public string? CheckpointDirectory { get; set; }

    /// <summary>Resume from the checkpoint in <see cref="CheckpointDirectory"/> when one exists.</summary>
    /// <value>true.</value>
    public bool Resume { get; set; } = true;

    /// <summary>Every problem with the current values; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        DeviceNames.AddScheduleErrors(errors, Epochs, BatchSize, Optimizer, LearningRate, WeightDecay, Momentum, CropPadding, Threads, Device);
        if (!(ReconstructionWeight >= 0) || double.IsInfinity(ReconstructionWeight)) errors.Add($"ReconstructionWeight must be >= 0; got {ReconstructionWeight}.");
        if (!(TotalVariationWeight >= 0) || double.IsInfinity(TotalVariationWeight)) errors.Add($"TotalVariationWeight must be >= 0; got {TotalVariationWeight}.");
        return errors;
    }

    /// <summary>Throws <see cref="OptionsValidationException"/> listing every problem, if any.</summary>
    public void ThrowIfInvalid() => DeviceNames.ThrowIfAny(nameof(TrapTrainerOptions), typeof(TrapTrainerOptions), Validate());

    /// <summary>A copy (options are mutable for binding; trainers keep their own copy).</summary>
    public TrapTrainerOptions Clone() => (TrapTrainerOptions)MemberwiseClone();
}

/// <summary>Device names the library accepts (the options classes also share their validation helpers here).</summary>
public static class DeviceNames
{
    /// <summary>True for <c>cpu</c>, <c>cuda</c> and <c>cuda:N</c>.</summary>
    public static bool IsValid(string? device) =>
        device is "cpu" or "cuda" ||
        (device is not null && device.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(device.AsSpan(5), out var n) && n >= 0);

    /// <summary>Checks the settings every training stage shares (schedule, optimizer, augmentation, threads, device).</summary>
    internal static void AddScheduleErrors(List<string> errors, int epochs, int batchSize, OptimizerKind optimizer, double learningRate,
        double weightDecay, double momentum, int cropPadding, int threads, string device)
    {
        ArgumentNullException.ThrowIfNull(errors);
        if (epochs < 1) errors.Add($"Epochs must be >= 1; got {epochs}.");
        if (batchSize < 1) errors.Add($"BatchSize must be >= 1; got {batchSize}.");
        if (!Enum.IsDefined(optimizer)) errors.Add($"Optimizer must be Adam or Sgd; got {optimizer}.");
        if (!(learningRate > 0) || double.IsInfinity(learningRate)) errors.Add($"LearningRate must be a positive number; got {learningRate}.");
        if (!(weightDecay >= 0) || double.IsInfinity(weightDecay)) errors.Add($"WeightDecay must be >= 0; got {weightDecay}.");
        if (!(momentum >= 0 && momentum < 1)) errors.Add($"Momentum must be in [0, 1); got {momentum}.");
        if (cropPadding < 0) errors.Add($"CropPadding must be >= 0; got {cropPadding}.");
        if (threads < 0) errors.Add($"Threads must be >= 0; got {threads}.");
        if (!IsValid(device)) errors.Add($"Device must be 'cpu', 'cuda' or 'cuda:N'; got '{device}'.");
    }

    /// <summary>Throws one <see cref="OptionsValidationException"/> naming every error.</summary>
    internal static void ThrowIfAny(string name, Type type, IReadOnlyList<string> errors)
    {
        if (errors.Count > 0) throw new OptionsValidationException(name, type, errors);
    }
}
