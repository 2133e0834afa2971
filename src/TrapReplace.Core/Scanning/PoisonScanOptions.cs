using TrapReplace.Training;

namespace TrapReplace.Scanning;

/// <summary>Settings of <see cref="PoisonScanner"/>; <see cref="Validate"/> names every bad value.</summary>
public sealed class PoisonScanOptions
{
    /// <summary>The per-sample score. <value>Default <see cref="PoisonScore.LikelihoodGap"/>: on the full-profile Blend
    /// cell, where the replaced head itself kept part of the backdoor, it was the only score that found the right
    /// target (docs/results.md).</value></summary>
    public PoisonScore Score { get; set; } = PoisonScore.LikelihoodGap;

    /// <summary>The threshold is this quantile of the clean reference images' scores, so about 1 − q of clean
    /// data is flagged. <value>Default 0.99.</value></summary>
    public double ReferenceQuantile { get; set; } = 0.99;

    /// <summary>When a target class is inferred, keep only suspects whose given label is that class (an all-to-one
    /// poison relabels every sample to the target). <value>Default true.</value></summary>
    public bool RestrictToTarget { get; set; } = true;

    /// <summary>A target is inferred only when the Chernoff bound on the chance of its over-representation among
    /// the flagged samples is at most this. <value>Default 1e-6.</value></summary>
    public double TargetSignificance { get; set; } = 1e-6;

    /// <summary>A class needs at least this many flagged samples to be inferred as the target. <value>Default 10.</value></summary>
    public int MinimumTargetSuspects { get; set; } = 10;

    /// <summary>Images per forward pass. <value>Default 500.</value></summary>
    public int BatchSize { get; set; } = 500;

    /// <summary>Where the scan runs. <value>The CPU.</value></summary>
    public ComputeDevice Device { get; set; } = ComputeDevice.Cpu;

    /// <summary>Intra-op threads; 0 keeps the current setting. <value>Default 0.</value></summary>
    public int Threads { get; set; }

    /// <summary>Run batches channels-last (faster on CPU). <value>Default true.</value></summary>
    public bool ChannelsLast { get; set; } = true;

    /// <summary>Every problem with the values, one line each; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!Enum.IsDefined(Score)) errors.Add($"Score must be one of {string.Join(", ", Enum.GetNames<PoisonScore>())}; got {Score}.");
        if (!(ReferenceQuantile > 0 && ReferenceQuantile < 1)) errors.Add($"ReferenceQuantile must be in (0, 1); got {ReferenceQuantile}.");
        if (!(TargetSignificance > 0 && TargetSignificance < 1)) errors.Add($"TargetSignificance must be in (0, 1); got {TargetSignificance}.");
        if (MinimumTargetSuspects < 1) errors.Add($"MinimumTargetSuspects must be >= 1; got {MinimumTargetSuspects}.");
        if (BatchSize < 1) errors.Add($"BatchSize must be >= 1; got {BatchSize}.");
        if (Threads < 0) errors.Add($"Threads must be >= 0; got {Threads}.");
        return errors;
    }

    /// <summary>Throws <see cref="Microsoft.Extensions.Options.OptionsValidationException"/> listing every problem, if any.</summary>
    public void ThrowIfInvalid() => SettingChecks.ThrowIfAny(nameof(PoisonScanOptions), typeof(PoisonScanOptions), Validate());

    /// <summary>A shallow copy.</summary>
    public PoisonScanOptions Clone() => (PoisonScanOptions)MemberwiseClone();
}
