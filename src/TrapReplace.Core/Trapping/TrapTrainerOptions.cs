using Microsoft.Extensions.Options;
using TrapReplace.Training;

namespace TrapReplace.Trapping;

/// <summary>
/// Stage 1 ("bait and trap") settings. Defaults are the reference's CIFAR-10/GTSRB schedule.
/// Bindable from configuration (section <c>TrapReplace:Trap</c>); validated as a whole by
/// <see cref="Validate"/>, which names every bad value in one error.
/// </summary>
public sealed class TrapTrainerOptions : ITrainingSchedule
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
    public ComputeDevice Device { get; set; } = ComputeDevice.Cpu;

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
        SettingChecks.Schedule(errors, this);
        SettingChecks.NonNegative(errors, nameof(ReconstructionWeight), ReconstructionWeight);
        SettingChecks.NonNegative(errors, nameof(TotalVariationWeight), TotalVariationWeight);
        return errors;
    }

    /// <summary>Throws <see cref="OptionsValidationException"/> listing every problem, if any.</summary>
    public void ThrowIfInvalid() => SettingChecks.ThrowIfAny(nameof(TrapTrainerOptions), typeof(TrapTrainerOptions), Validate());

    /// <summary>A copy (options are mutable for binding; trainers keep their own copy).</summary>
    public TrapTrainerOptions Clone() => (TrapTrainerOptions)MemberwiseClone();
}
