using TrapReplace.Data;

namespace TrapReplace.Core.Tests.Data;

/// <summary>
/// A fact that runs only when the real GTSRB cache (<c>gtsrb-32x32-bin/train.bin</c> and
/// <c>test.bin</c>) is under the data root (TRAPREPLACE_DATA, else ~/.cache/trapreplace-data), and
/// is otherwise reported as skipped with the reason. xunit 2 has no dynamic skip, so the check runs
/// when the test is discovered.
/// </summary>
public sealed class RealGtsrbFactAttribute : FactAttribute
{
    public RealGtsrbFactAttribute()
    {
        if (!Gtsrb.IsPresent(Root))
            Skip = $"real GTSRB not found: {Path.Combine(Root, Gtsrb.FolderName)} lacks train.bin/test.bin " +
                   $"(run ../shared/data/unpack.sh once the GTSRB payload is there, or set {DataDirectory.EnvironmentVariable})";
    }

    public static string Root => DataDirectory.Resolve();
}
