using TrapReplace.Experiments.Specs;
using TrapReplace.Runtime;
using TrapReplace.Training;

namespace TrapReplace.Experiments.Results;

/// <summary>
/// The record of a cell whose defense stopped without a network because its training diverged (a loss or a search
/// went non-finite). Written beside the result files as <c>{cell}.failed.json</c> (<see cref="ResultFiles.FailurePath"/>),
/// so a report shows the cell as failed instead of leaving it out, and a matrix does not spend the compute on the
/// same deterministic failure again. It holds no metrics and is never read as a result.
/// </summary>
public sealed record CellFailure
{
    /// <summary>The format version this library writes.</summary>
    public const int CurrentSchema = 1;

    /// <summary>What <see cref="Reason"/> says for a diverged defense.</summary>
    public const string Diverged = "diverged";

    /// <summary>Format version of this file.</summary>
    public int Schema { get; init; } = CurrentSchema;

    /// <summary>cifar10 or gtsrb.</summary>
    public required string Dataset { get; init; }

    /// <summary>The backbone's name.</summary>
    public required string Backbone { get; init; }

    /// <summary>The attack's name.</summary>
    public required string Attack { get; init; }

    /// <summary>The attack's target class.</summary>
    public required int TargetClass { get; init; }

    /// <summary>The poison ratio the attack ran with; null without an attack.</summary>
    public required double? PoisonRatio { get; init; }

    /// <summary>The defense that failed.</summary>
    public required string Defense { get; init; }

    /// <summary>The cell's seed.</summary>
    public required int Seed { get; init; }

    /// <summary>The defense's own seed when the cell gave one; absent otherwise.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public int? DefenseSeed { get; init; }

    /// <summary>The profile's name.</summary>
    public required string Profile { get; init; }

    /// <summary>Why the cell has no result (<see cref="Diverged"/>).</summary>
    public required string Reason { get; init; }

    /// <summary>The stage that failed, as its log names it.</summary>
    public required string Stage { get; init; }

    /// <summary>Epoch (or round) of the failing step, from 0.</summary>
    public required int Epoch { get; init; }

    /// <summary>Step of the failing step within it, from 0.</summary>
    public required int Step { get; init; }

    /// <summary>The error message.</summary>
    public required string Message { get; init; }

    /// <summary>Training arithmetic: fp32 or bf16.</summary>
    public required string Precision { get; init; }

    /// <summary>Library and native versions, and the CPU.</summary>
    public required VersionInfo Versions { get; init; }

    /// <summary>Intra-op threads.</summary>
    public required int Threads { get; init; }

    /// <summary>The device.</summary>
    public required string Device { get; init; }

    /// <summary>When the failure happened.</summary>
    public required DateTimeOffset FinishedUtc { get; init; }

    /// <summary>True when this record is about <paramref name="spec"/>.</summary>
    public bool IsFor(CellSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return spec.Identifies(Dataset, Backbone, Attack, Defense, Seed, DefenseSeed, Profile);
    }

    /// <summary>The record of <paramref name="spec"/>'s defense diverging as <paramref name="error"/> says.</summary>
    public static CellFailure Of(CellSpec spec, RunSettings settings, TrainingDivergedException error, VersionInfo versions)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(error);
        return new CellFailure
        {
            Dataset = spec.Dataset.Name,
            Backbone = spec.Backbone.Value,
            Attack = spec.Attack.Value,
            TargetClass = spec.TargetClass,
            PoisonRatio = spec.Attack.IsNone ? null : spec.ResolvedRatio,
            Defense = spec.Defense.Value,
            Seed = spec.Seed,
            DefenseSeed = spec.DefenseSeed,
            Profile = spec.Profile.Name,
            Reason = Diverged,
            Stage = error.Stage,
            Epoch = error.Epoch,
            Step = error.Step,
            Message = error.Message,
            Precision = PrecisionName.Of(settings.Precision),
            Versions = versions,
            Threads = settings.Threads,
            Device = settings.Device.ToString(),
            FinishedUtc = DateTimeOffset.UtcNow,
        };
    }
}
