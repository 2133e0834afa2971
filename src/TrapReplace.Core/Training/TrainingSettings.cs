using Microsoft.Extensions.Options;

namespace TrapReplace.Training;

/// <summary>
/// Where a training stage runs and how it is seeded: the part every training options class shares (stage 1, stage 2,
/// fine-tuning and every peer), so code that places or seeds a run sets it once for any of them.
/// </summary>
public interface ITrainingRuntime
{
    /// <summary>Seed of the stage's initial weights and in-network randomness (dropout).</summary>
    int ModelSeed { get; set; }

    /// <summary>Seed of batch order, augmentation and per-batch transforms.</summary>
    int DataSeed { get; set; }

    /// <summary>Where the stage runs.</summary>
    ComputeDevice Device { get; set; }

    /// <summary>Intra-op threads; 0 leaves torch's setting alone. Pin it for bit-identical runs and resumes.</summary>
    int Threads { get; set; }

    /// <summary>Feed the network channels-last batches (faster on CPUs; the numbers differ in the last bits).</summary>
    bool ChannelsLast { get; set; }
}

/// <summary>
/// The epoch schedule shared by the stages that train for epochs with one optimizer and the reference augmentation
/// (stage 1, stage 2, fine-tuning, fine-pruning, NAD); the learning rate follows a cosine over <see cref="Epochs"/>.
/// </summary>
public interface ITrainingSchedule : ITrainingRuntime
{
    /// <summary>Epochs of the stage.</summary>
    int Epochs { get; set; }

    /// <summary>Mini-batch size.</summary>
    int BatchSize { get; set; }

    /// <summary>Optimizer.</summary>
    OptimizerKind Optimizer { get; set; }

    /// <summary>Initial learning rate.</summary>
    double LearningRate { get; set; }

    /// <summary>L2 weight decay.</summary>
    double WeightDecay { get; set; }

    /// <summary>SGD momentum (ignored by Adam).</summary>
    double Momentum { get; set; }

    /// <summary>Random-crop padding in pixels; 0 disables cropping.</summary>
    int CropPadding { get; set; }

    /// <summary>Random horizontal flips.</summary>
    bool HorizontalFlip { get; set; }
}

/// <summary>The checks every options class shares: one message per problem, naming the option.</summary>
internal static class SettingChecks
{
    /// <summary>Adds the problems of the runtime part.</summary>
    public static void Runtime(List<string> errors, ITrainingRuntime settings)
    {
        if (settings.Threads < 0) errors.Add($"Threads must be >= 0; got {settings.Threads}.");
    }

    /// <summary>Adds the problems of the schedule and runtime parts; <paramref name="minimumEpochs"/> is 0 where a stage
    /// may skip training (fine-pruning without fine-tuning).</summary>
    public static void Schedule(List<string> errors, ITrainingSchedule settings, int minimumEpochs = 1)
    {
        AtLeast(errors, nameof(settings.Epochs), settings.Epochs, minimumEpochs);
        AtLeast(errors, nameof(settings.BatchSize), settings.BatchSize, 1);
        Optimizer(errors, nameof(settings.Optimizer), settings.Optimizer);
        Positive(errors, nameof(settings.LearningRate), settings.LearningRate);
        NonNegative(errors, nameof(settings.WeightDecay), settings.WeightDecay);
        Momentum(errors, nameof(settings.Momentum), settings.Momentum);
        AtLeast(errors, nameof(settings.CropPadding), settings.CropPadding, 0);
        Runtime(errors, settings);
    }

    public static void AtLeast(List<string> errors, string name, int value, int minimum)
    {
        if (value < minimum) errors.Add($"{name} must be >= {minimum}; got {value}.");
    }

    /// <summary>A positive finite number.</summary>
    public static void Positive(List<string> errors, string name, double value)
    {
        if (!(value > 0) || double.IsInfinity(value)) errors.Add($"{name} must be a positive number; got {value}.");
    }

    /// <summary>A finite number >= 0.</summary>
    public static void NonNegative(List<string> errors, string name, double value)
    {
        if (!(value >= 0) || double.IsInfinity(value)) errors.Add($"{name} must be >= 0; got {value}.");
    }

    public static void Momentum(List<string> errors, string name, double value)
    {
        if (!(value >= 0 && value < 1)) errors.Add($"{name} must be in [0, 1); got {value}.");
    }

    public static void Optimizer(List<string> errors, string name, OptimizerKind value)
    {
        if (!Enum.IsDefined(value)) errors.Add($"{name} must be Adam or Sgd; got {value}.");
    }

    /// <summary>Throws one <see cref="OptionsValidationException"/> naming every error.</summary>
    public static void ThrowIfAny(string name, Type type, IReadOnlyList<string> errors)
    {
        if (errors.Count > 0) throw new OptionsValidationException(name, type, errors);
    }
}
