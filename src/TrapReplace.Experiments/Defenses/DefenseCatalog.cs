namespace TrapReplace.Experiments.Defenses;

/// <summary>The runner's <c>--defense</c> choices. <c>none</c> is not here: it only trains and evaluates.</summary>
public static class DefenseCatalog
{
    /// <summary>The undefended baseline's name.</summary>
    public const string None = "none";

    private static readonly ICellDefense[] All =
    [
        new HeadReplacement(afterTrap: true),
        new TrapCleanseDefense(),
        new HeadReplacement(afterTrap: false),
        new FineTuningDefense(),
        new FinePruningDefense(),
        new AttentionDistillationDefense(),
        new AntiBackdoorLearningDefense(),
        new AdversarialNeuronPruningDefense(),
        new ImplicitBackdoorUnlearningDefense(),
    ];

    /// <summary>Every name <c>--defense</c> accepts, none first.</summary>
    public static IReadOnlyList<string> Names { get; } = [None, .. All.Select(d => d.Name)];

    /// <summary>The defense called <paramref name="name"/>; null for <c>none</c> or an unknown name.</summary>
    public static ICellDefense? Find(string name) => All.FirstOrDefault(d => d.Name == name);

    /// <summary>Whether the defense starts from the trap network (stage 1 with the reconstruction head); false for
    /// <c>none</c> and the peers, which start from the normally trained one.</summary>
    public static bool StartsFromTrap(string name) => Find(name)?.StartsFromTrap ?? false;
}
