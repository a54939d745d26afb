"""SQLAlchemy ORM inserts into an in-memory sqlite database.

Declares two mapped classes (customers and their orders), then in the timed
part inserts customers with a few orders each through a Session, committing
every 500 customers, and reads some back with a query: the ORM's unit of
work, identity map and instance state objects make many short- and
medium-lived objects.  SQLAlchemy 1.4 (Debian's python3-sqlalchemy) or 2.x.
"""
import os
import sys

from sqlalchemy import Column, ForeignKey, Integer, String, create_engine, select
from sqlalchemy.orm import Session, declarative_base, relationship

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

Base = declarative_base()


class Customer(Base):
    __tablename__ = "customer"
    id = Column(Integer, primary_key=True)
    name = Column(String(64))
    email = Column(String(64))
    orders = relationship("Order", back_populates="customer")


class Order(Base):
    __tablename__ = "orders"
    id = Column(Integer, primary_key=True)
    customer_id = Column(Integer, ForeignKey("customer.id"))
    item = Column(String(32))
    qty = Column(Integer)
    customer = relationship("Customer", back_populates="orders")


def main():
    args = harness.parser(__doc__).parse_args()
    mtp = harness.import_mtp(args)
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    customers = max(500, int(6000 * args.scale))

    def work():
        with Session(engine) as session:
            for i in range(customers):
                c = Customer(name="customer %d" % i, email="c%d@example.com" % i)
                c.orders = [Order(item="item-%d" % (i * 3 + k), qty=k + 1) for k in range(3)]
                session.add(c)
                if i % 500 == 499:
                    session.commit()
            session.commit()
            big = session.execute(select(Order).where(Order.qty == 3)).scalars().all()
            return {"customers": customers, "orders_qty3": len(big)}

    harness.run("sqlalchemy", work, args, mtp)


if __name__ == "__main__":
    main()
