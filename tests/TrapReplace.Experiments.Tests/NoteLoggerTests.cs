using Microsoft.Extensions.Logging;
using TrapReplace.Experiments.Logging;
using TrapReplace.Scanning;

namespace TrapReplace.Experiments.Tests;

public sealed class NoteLoggerTests
{
    [Fact]
    public void A_defenses_logger_factory_passes_warnings_to_the_run_output_and_drops_progress()
    {
        var notes = new List<string>();
        using var factory = new NoteLogger(notes.Add, LogLevel.Warning).AsFactory();
        var logger = factory.CreateLogger<SuspectExpander>();

        logger.LogInformation("epoch {Epoch} done", 3);
        logger.LogWarning("suspect expansion skipped: the holdout has {Count} images of class {Target}", 2, 0);
        logger.LogError("failed {What}", "x");

        notes.Should().Equal("suspect expansion skipped: the holdout has 2 images of class 0", "failed x");
        new NoteLogger(null, LogLevel.Warning).AsFactory().CreateLogger("any").IsEnabled(LogLevel.Critical).Should().BeFalse("no terminal, no notes");
    }
}
