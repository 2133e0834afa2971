using System.Globalization;
using TrapReplace.Attacks;
using TrapReplace.Models;
using TrapReplace.Runtime;

namespace TrapReplace.Experiments.Specs;

/// <summary>One experiment: a data set, a backbone, an attack (or none), a defense, a seed and a profile.</summary>
/// <param name="Dataset">An <see cref="ExperimentDataset"/> name (<see cref="Datasets"/>).</param>
/// <param name="Backbone">A <see cref="BackboneCatalog"/> name for 32x32 inputs (<see cref="Backbones"/>).</param>
/// <param name="Attack">An <see cref="AttackCatalog"/> name, or <c>none</c>.</param>
/// <param name="Defense">A defense's name (<c>DefenseCatalog.Names</c>).</param>
/// <param name="Seed">Seeds weight initialisation, batch order, augmentation and the choice of poisoned samples.</param>
/// <param name="Profile">An <see cref="ExperimentProfile"/> name (<see cref="ExperimentProfile.All"/>).</param>
/// <param name="TargetClass">The attack's target class.</param>
/// <param name="PoisonRatio">Fraction poisoned; null = the attack's default (see <see cref="ResolvedRatio"/>).</param>
public sealed record CellSpec(string Dataset, string Backbone, string Attack, string Defense, int Seed, string Profile, int TargetClass = 0, double? PoisonRatio = null)
{
    /// <summary>The data sets the runner knows.</summary>
    public static IReadOnlyList<string> Datasets { get; } = [.. ExperimentDataset.All.Select(d => d.Name)];

    /// <summary>The backbones the runner knows: the catalog's backbones for 32x32 inputs.</summary>
    public static IReadOnlyList<string> Backbones { get; } =
        [.. BackboneCatalog.Names.Where(name => BackboneCatalog.Create(name, 10).InputShape.Height == 32)];

    /// <summary>Attack names accepted by <c>--attack</c>.</summary>
    public static IReadOnlyList<string> Attacks { get; } = ["none", .. AttackCatalog.Names];

    /// <summary>Clean-label attacks poison only target-class images; their ratio counts within the target class.</summary>
    public static bool IsCleanLabel(string attack) => attack != "none" && AttackCatalog.IsCleanLabel(attack);

    /// <summary>
    /// The poison ratio in use: the given one, else 0.1 of the training set (dirty-label; for WaNet 0.1 of every
    /// batch), or 0.8 of the target class for the clean-label attacks (10 % of the whole set would need every
    /// target-class image and more once the holdout is taken out).
    /// </summary>
    public double ResolvedRatio => PoisonRatio ?? (IsCleanLabel(Attack) ? 0.8 : 0.1);

    /// <summary>The result file name; stable, so a rerun finds finished cells.</summary>
    public string FileName => string.Create(CultureInfo.InvariantCulture,
        $"{Dataset}.{Backbone}.{Profile}.{AttackTag}.{Defense}.seed{Seed}.json");

    /// <summary>The attack with its target and ratio, e.g. <c>badnets-grid-t0-r0.1</c>; <c>none</c> without an attack.</summary>
    public string AttackTag => Attack == "none" ? "none" : string.Create(CultureInfo.InvariantCulture, $"{Attack}-t{TargetClass}-r{ResolvedRatio}");

    /// <summary>Every problem with the values, as lines naming the option; empty when valid. The defense's name is
    /// checked where the defenses are known (<c>CellRunner.Validate</c>).</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!Datasets.Contains(Dataset)) errors.Add($"unknown --dataset '{Dataset}'; choose one of {string.Join(", ", Datasets)}");
        if (!Backbones.Contains(Backbone)) errors.Add($"unknown --backbone '{Backbone}'; choose one of {string.Join(", ", Backbones)}");
        if (!Attacks.Contains(Attack)) errors.Add($"unknown --attack '{Attack}'; choose one of {string.Join(", ", Attacks)}");
        if (ExperimentProfile.Find(Profile) is null) errors.Add($"unknown --profile '{Profile}'; choose one of {string.Join(", ", ExperimentProfile.All.Select(p => p.Name))}");
        if (PoisonRatio is double r && !(r > 0 && r <= 1)) errors.Add(string.Create(CultureInfo.InvariantCulture, $"--ratio must be in (0, 1]; got {r}"));
        if (Seed < 0) errors.Add($"--seed must be >= 0; got {Seed}");
        if (ExperimentDataset.Find(Dataset) is { ClassCount: var classes } && (TargetClass < 0 || TargetClass >= classes))
            errors.Add($"--target must be in [0, {classes - 1}] for {Dataset}; got {TargetClass}");
        return errors;
    }

    /// <summary>Builds the backbone for <paramref name="classCount"/> classes.</summary>
    public IBackbone CreateBackbone(int classCount) => BackboneCatalog.Create(Backbone, classCount);
}
