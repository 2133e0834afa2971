using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using TrapReplace.Training;

namespace TrapReplace.Trapping;

/// <summary>
/// Stage 1 ("bait and trap") settings. Defaults are the reference's CIFAR-10/GTSRB schedule.
/// Bindable from configuration (section <c>TrapReplace:Trap</c>); validated as a whole by
/// <see cref="Validate"/>, which names every bad value in one error.
/// </summary>
public sealed class TrapTrainerOptions : TrainingSchedule
{
    /// <summary>Options with this stage's defaults.</summary>
    public TrapTrainerOptions()
        : base(epochs: 200, batchSize: 256, optimizer: OptimizerKind.Adam, learningRate: 1e-3, weightDecay: 5e-4)
    {
    }

    /// <summary>lambda: weight of the reconstruction MSE. 0 trains without the trap (plain training).</summary>
    /// <value>10.</value>
    [JsonPropertyOrder(70)]
    public double ReconstructionWeight { get; set; } = 10;

    /// <summary>lambda2: weight of the total variation of the reconstruction.</summary>
    /// <value>1.</value>
    [JsonPropertyOrder(80)]
    public double TotalVariationWeight { get; set; } = 1;

    /// <summary>Folder for the per-epoch checkpoint (<c>trap.ckpt</c>); null disables checkpoints.</summary>
    /// <value>null.</value>
    [JsonPropertyOrder(170)]
    public string? CheckpointDirectory { get; set; }

    /// <summary>Resume from the checkpoint in <see cref="CheckpointDirectory"/> when one exists.</summary>
    /// <value>true.</value>
    [JsonPropertyOrder(180)]
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
