package pgstore

import "github.com/jackc/pgx/v5/pgtype"

// array passes a slice to PostgreSQL as a one-dimensional array (NULL when
// nil). pgx's own slice encoding hands each element over in an interface,
// an allocation apiece, and goes through reflection for element types it
// does not know (pgtype.UUID, pgtype.Timestamptz); array hands over a
// pointer to each element, which costs neither when pgx encodes the
// pointer itself: pgtype's types (*pgtype.UUID, *pgtype.Text, *pgtype.Int8,
// *pgtype.Timestamptz), not Go's (*string, *[16]byte, which pgx copies into
// an interface again). Batches of state changes send ten such arrays.
type array[T any] []T

// Dimensions implements [pgtype.ArrayGetter].
func (a array[T]) Dimensions() []pgtype.ArrayDimension {
	if a == nil {
		return nil
	}
	return []pgtype.ArrayDimension{{Length: int32(len(a)), LowerBound: 1}}
}

// Index implements [pgtype.ArrayGetter].
func (a array[T]) Index(i int) any { return &a[i] }

// IndexType implements [pgtype.ArrayGetter].
func (a array[T]) IndexType() any { return new(T) }

// text passes a string as a non-NULL pgtype.Text, for array.
func text(s string) pgtype.Text { return pgtype.Text{String: s, Valid: true} }
